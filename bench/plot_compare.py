#!/usr/bin/env python3
"""Draws a bench/run_compare.sh run as a PNG: for every concurrency W, acked
writes/s (x) against p50 and p99 latency (y, two panels, log-log), one curve
per system: ringraft (native protocol, ringraft_loadgen), ringraft memstore
over HTTP (wrk), canonical/raft ("craft") and etcd, each when the run has it.
Each point is labelled with its W (loadgen window, craft window, wrk -c).

  plot_compare.py RESULT [--out PNG] [--machine TEXT]

RESULT is either
  * a run's directory (/tmp/ringraft_compare/<stamp>/): reads the raw files
    (ours.jsonl, memstore_wrk.tsv, peers/craft_*.tsv, peers/etcd_wrk_*.tsv,
    the machine line of run.log) and writes <dir>/table.png beside table.md;
  * a table written by run_compare.sh (table.md, or a copy such as
    bench/results/compare-<stamp>.md): if the raw files sit beside it they are
    used, else the Markdown tables are parsed (craft has no p99 there); the
    PNG is <table basename>.png beside it.
The title carries the run's date (from the stamp in the directory or file
name, else the file's mtime) and the machine line run_compare.sh records (in
run.log and at the end of table.md; "not recorded" for older tables).
Needs matplotlib (Debian: python3-matplotlib, for /usr/bin/python3)."""
import argparse, csv, datetime, glob, json, os, re, sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator
except ImportError:
    sys.exit("plot_compare.py: matplotlib is missing (apt-get install python3-matplotlib, "
             "then run it with /usr/bin/python3)")


def num(s):
    s = str(s).strip().replace(",", "")
    if s in ("", "-"):
        return None
    try:
        return float(s)
    except ValueError:
        return None


# ---- raw files of a run directory (what compare_table.py reads) ----------

def tsv_rows(d, pattern):
    fs = sorted(glob.glob(os.path.join(d, pattern)))
    if not fs:
        return []
    with open(fs[-1]) as f:
        return list(csv.DictReader([l for l in f if not l.startswith("#")], delimiter="\t"))


def last_by(rows, key):
    """One row per key, the last one (several rounds: as compare_table.py)."""
    out = {}
    for r in rows:
        k = num(r.get(key))
        if k is not None:
            out[int(k)] = r
    return out


def from_dir(d):
    series = {}
    path = os.path.join(d, "ours.jsonl")
    if os.path.exists(path):
        ours = [json.loads(l) for l in open(path) if l.strip()]
        one = {int(o["window"]): o for o in ours if o.get("groups") == 1}
        series["ours"] = [(w, o["ops_per_s"], o["p50_us"], o["p99_us"]) for w, o in sorted(one.items())]
        series["ours_groups"] = [(o["window"], o["ops_per_s"], o["p50_us"], o["p99_us"], o["groups"])
                                 for o in ours if o.get("groups", 1) > 1]
    mem = last_by(tsv_rows(d, "memstore_wrk.tsv"), "conns")
    if mem:
        series["memstore"] = [(c, num(r["req_s"]), ms(r["p50_ms"]), ms(r["p99_ms"])) for c, r in sorted(mem.items())]
    craft = last_by(tsv_rows(d, "peers/craft_*.tsv"), "window")
    if craft:
        series["craft"] = [(w, num(r["entries_s"]), num(r["p50_us"]), num(r.get("p99_us")))
                           for w, r in sorted(craft.items())]
    etcd = last_by(tsv_rows(d, "peers/etcd_wrk_*.tsv"), "conns")
    if etcd:
        series["etcd"] = [(c, num(r["req_s"]), ms(r["p50_ms"]), ms(r["p99_ms"])) for c, r in sorted(etcd.items())]
    return series


def ms(v):
    v = num(v)
    return None if v is None else v * 1000.0


# ---- a Markdown table (table.md, bench/results/compare-*.md) ---------------

def md_tables(text):
    """Every Markdown table as (header cells, [row cells])."""
    tables, cur = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cur is None:
                cur = (cells, [])
                tables.append(cur)
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                cur[1].append(cells)
        else:
            cur = None
    return tables


def from_md(text):
    series = {}
    for header, rows in md_tables(text):
        rows = [dict(zip(header, r)) for r in rows]
        if header and header[0] == "W" and "ours ops/s" in header:
            series["ours"] = [(int(num(r["W"])), num(r["ours ops/s"]), num(r["p50 us"]), num(r["p99 us"]))
                              for r in rows if num(r.get("ours ops/s")) is not None]
            series["craft"] = [(int(num(r["W"])), num(r["craft entries/s"]), num(r["craft p50 us"]), None)
                               for r in rows if num(r.get("craft entries/s")) is not None]
            # etcd by W is repeated in the HTTP table, with its p99: taken from there.
        elif header and header[0] == "conns":
            series["memstore"] = [(int(num(r["conns"])), num(r["memstore req/s"]), ms(r["p50 ms"]), ms(r["p99 ms"]))
                                  for r in rows if num(r.get("memstore req/s")) is not None]
            series["etcd"] = [(int(num(r["conns"])), num(r["etcd req/s"]), ms(r["etcd p50 ms"]), ms(r["etcd p99 ms"]))
                              for r in rows if num(r.get("etcd req/s")) is not None]
    series["ours_groups"] = [
        (int(num(m[2])), num(m[3]), num(m[4]), num(m[5]), int(m[1]))
        for m in re.finditer(r"^(\d+) groups, W=(\d+): ([\d,.]+) ops/s, p50 ([\d,.]+) us, p99 ([\d,.]+) us",
                             text, re.M)]
    return {k: v for k, v in series.items() if v}


def machine_line(*paths):
    for p in paths:
        if p and os.path.exists(p):
            for line in open(p):
                m = re.search(r"machine: (.*)$", line)
                if m:
                    return m.group(1).strip()
    return None


def run_date(*names):
    for n in names:
        m = re.search(r"(20\d\d)(\d\d)(\d\d)-(\d\d)(\d\d)(\d\d)?", n or "")
        if m:
            return f"{m[1]}-{m[2]}-{m[3]} {m[4]}:{m[5]}" + (f":{m[6]}" if m[6] else "")
    return None


# ---- the figure ------------------------------------------------------------

STYLES = {  # key: (legend, colour, marker, line style)
    "ours": ("ringraft (native protocol, ringraft_loadgen)", "#1f5fbf", "o", "-"),
    "memstore": ("ringraft memstore over HTTP (wrk)", "#7a4cc2", "s", ":"),
    "craft": ("canonical/raft (libraft, craft_bench)", "#e07b00", "^", "-"),
    "etcd": ("etcd 3.4 over HTTP (wrk, grpc-gateway)", "#2a9d3f", "D", "-"),
}


def fmt_us(v, _pos=None):
    if v >= 1000:
        s = f"{v / 1000:g} ms"
    else:
        s = f"{v:g} µs"
    return s


def fmt_rate(v, _pos=None):
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def plot(series, title, subtitle, source, out):
    fig, axes = plt.subplots(1, 2, figsize=(14, 6.2), sharex=True)
    for ax, idx, name in ((axes[0], 2, "p50"), (axes[1], 3, "p99")):
        missing = []
        for key, (label, colour, marker, ls) in STYLES.items():
            pts = [p for p in series.get(key, []) if p[1] and p[idx]]
            if not pts:
                if series.get(key) and idx == 3:
                    missing.append(label.split(" (")[0])
                continue
            xs, ys = [p[1] for p in pts], [p[idx] for p in pts]
            ax.plot(xs, ys, color=colour, marker=marker, ls=ls, lw=1.8, ms=7,
                    mfc="white" if key == "memstore" else colour, label=label)
            for i, p in enumerate(pts):  # The last (highest W) to the upper left: clear of the star.
                last = i == len(pts) - 1 and len(pts) > 1
                ax.annotate(f"{p[0]}", (p[1], p[idx]), textcoords="offset points",
                            xytext=(-7, 4) if last else (6, -11), ha="right" if last else "left",
                            fontsize=8, color=colour)
        for w, ops, p50, p99, groups in series.get("ours_groups", []):
            y = p50 if idx == 2 else p99
            if ops and y:
                ax.plot([ops], [y], color=STYLES["ours"][1], marker="*", ms=15, ls="none",
                        label=f"ringraft, {groups} groups (W={w})")
                ax.annotate(f"{groups} groups", (ops, y), textcoords="offset points", xytext=(0, -20),
                            fontsize=8, color=STYLES["ours"][1], ha="center")
        if missing:
            ax.text(0.02, 0.97, f"not in this table's p99: {', '.join(missing)}", transform=ax.transAxes,
                    fontsize=8, va="top", color="#777777")
        ax.margins(0.06)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(fmt_rate))
        ax.yaxis.set_major_formatter(FuncFormatter(fmt_us))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, p: ""))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, p: ""))
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.grid(True, which="major", alpha=0.35)
        ax.grid(True, which="minor", alpha=0.1)
        ax.set_xlabel("acknowledged writes per second (log)")
        ax.set_ylabel(f"{name} write latency (log)")
        ax.set_title(f"{name} latency vs throughput", fontsize=11)
    # One legend for both panels, under them.
    handles, labels = [], []
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.03))
    fig.suptitle(title, fontsize=13, y=0.985)
    fig.text(0.5, 0.935, subtitle, ha="center", fontsize=9, color="#444444")
    fig.text(0.5, 0.008, f"numbers at the points: W = concurrency (loadgen/craft window, wrk connections)"
             f"  ·  source: {source}", ha="center", fontsize=7.5, color="#777777")
    fig.tight_layout(rect=(0, 0.1, 1, 0.955))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("result", help="run directory of run_compare.sh, or its table (.md)")
    ap.add_argument("--out", help="PNG path (default: <table basename>.png beside the table)")
    ap.add_argument("--machine", help="machine description for the title (default: from run.log / the table)")
    a = ap.parse_args()

    if os.path.isdir(a.result):
        d, table = a.result.rstrip("/"), os.path.join(a.result, "table.md")
    else:
        d, table = os.path.dirname(os.path.abspath(a.result)), a.result
    raw = os.path.isdir(a.result) or (os.path.basename(table) == "table.md" and
                                      os.path.exists(os.path.join(d, "ours.jsonl")))
    if raw:
        series, source = from_dir(d), d + "/ (raw files)"
    else:
        series, source = from_md(open(table).read()), os.path.basename(table)
    if not any(series.get(k) for k in STYLES):
        sys.exit(f"plot_compare.py: no results found in {a.result}")
    out = a.out or os.path.splitext(table)[0] + ".png"

    date = run_date(os.path.basename(table), os.path.basename(d))
    if date is None and os.path.exists(table):
        date = datetime.datetime.fromtimestamp(os.path.getmtime(table)).strftime("%Y-%m-%d %H:%M")
    machine = a.machine or machine_line(os.path.join(d, "run.log") if raw else None, table) or "not recorded"
    systems = [k for k in ("ours", "craft", "etcd") if series.get(k)]
    names = {"ours": "ringraft", "craft": "canonical/raft", "etcd": "etcd"}
    title = " vs ".join(names[k] for k in systems) + \
        ": 3-node clusters, 128 B values, closed loop, fsync on"
    subtitle = f"run {date or 'date unknown'}  ·  machine: {machine}"
    plot(series, title, subtitle, source, out)
    print(out)


if __name__ == "__main__":
    main()
