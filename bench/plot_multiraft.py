#!/usr/bin/python3
"""Table and PNG of one bench/multiraft.sh run.

    /usr/bin/python3 bench/plot_multiraft.py OUT_DIR [--table FILE]

Reads OUT_DIR/results.jsonl; prints the markdown table (and writes it to
--table), and writes OUT_DIR/multiraft.png with matplotlib (Debian's
python3-matplotlib, for the system python). The table is written even when
matplotlib is missing.
"""
import argparse
import json
import sys


def pairs(nodes):
    """Per node pair (both directions): Raft messages/s and frames/s. A
    node whose metrics could not be read (metrics_ok false, or negative
    rates from a missing dump in older results) leaves its pairs out."""
    out = {}
    for i, n in enumerate(nodes):
        if not node_ok(n):
            continue
        for peer, v in n.get("to_peer", {}).items():
            a, b = sorted((i + 1, int(peer)))
            d = out.setdefault((a, b), [0.0, 0.0])
            d[0] += v.get("messages_per_s", 0.0)
            d[1] += v.get("frames_per_s", 0.0)
    return out


def node_ok(n):
    return n.get("metrics_ok", True) and n.get("raft_msgs_per_s", 0) >= 0 and n.get("beats_per_s", 0) >= 0


def table(rows):
    lines = []
    add = lines.append
    st = [r for r in rows if r["kind"] == "startup"]
    if st:
        add("| start-up | groups per node | fresh cluster serves after | restart serves after |")
        add("|---|---|---|---|")
        for r in st:
            add(f"| 3 nodes, 1 shard | {r['groups']} | {r['fresh_s']:.2f} s | {r['restart_s']:.2f} s |")
        add("")
    idle = [r for r in rows if r["kind"] == "idle"]
    if idle:
        add("| idle groups per node | quiescence | CPU % of a core per node (n1 / n2 / n3) "
            "| Raft msgs/s per node pair (max) | frames/s per node pair (max) "
            "| RSS MB per node (max) | RSS KB per group | groups quiesced (of 3N) | leaders "
            "| foreign cores |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        for r in idle:
            ns = r["nodes"]
            p = pairs(ns)
            msgs = max((v[0] for v in p.values()), default=0.0)
            frames = max((v[1] for v in p.values()), default=0.0)
            rss = max(n["rss_mb"] for n in ns)
            add(f"| {r['groups']} | {r['quiesce']} | "
                + " / ".join(f"{n['cpu_pct']:.1f}" for n in ns)
                + f" | {msgs:.0f} | {frames:.0f} | {rss:.0f} | {rss * 1024 / r['groups']:.1f} | "
                f"{sum(n['quiesced'] for n in ns if node_ok(n))} | {sum(n['leaders'] for n in ns if node_ok(n))}"
                f"{'' if all(node_ok(n) for n in ns) else ' (a node wrote no metrics in time: left out)'} | "
                f"{r['foreign_cores']:.2f} |")
        # Memory per added group: the RSS difference between two sizes.
        on = sorted((r for r in idle if r["quiesce"] == "on"), key=lambda r: r["groups"])
        if len(on) >= 2:
            a, b = on[0], on[-1]
            ra = sum(n["rss_mb"] for n in a["nodes"]) / 3
            rb = sum(n["rss_mb"] for n in b["nodes"]) / 3
            add("")
            add(f"Memory per group (mean RSS over the nodes, {a['groups']} → {b['groups']} groups, "
                f"quiescence on): {(rb - ra) * 1024 / (b['groups'] - a['groups']):.1f} KB.")
        add("")
    wake = [r for r in rows if r["kind"] == "wake"]
    w1 = {(r.get("groups_hosted"), r.get("quiesce")): r for r in rows if r["kind"] == "w1"}
    if wake:
        add("| groups per node | quiescence | pause before each put | first put to an idle group p50 / p90 / max µs "
            "| second put p50 / p90 µs | closed-loop W=1 p50 / p99 µs | first / second put p50 | first put p50 / closed-loop W=1 p50 |")
        add("|---|---|---|---|---|---|---|---|")
        for r in wake:
            b = w1.get((r["groups"], r["quiesce"]))
            ratio = f"{r['cold_p50_us'] / b['p50_us']:.2f}" if b and b["p50_us"] else "-"
            base = f"{b['p50_us']:.0f} / {b['p99_us']:.0f}" if b else "-"
            cw = f"{r['cold_p50_us'] / r['warm_p50_us']:.2f}" if r["warm_p50_us"] else "-"
            add(f"| {r['groups']} | {r['quiesce']} | {r.get('gap_ms', 20)} ms | {r['cold_p50_us']:.0f} / {r['cold_p90_us']:.0f} / "
                f"{r['cold_max_us']:.0f} | {r['warm_p50_us']:.0f} / {r['warm_p90_us']:.0f} | {base} | "
                f"{cw} | {ratio} |" + (f" ({r['failed']} failed)" if r["failed"] else ""))
        add("")
    tp = sorted((r for r in rows if r["kind"] == "tput"), key=lambda r: r["active_groups"])
    if tp:
        one = next((r["ops_per_s"] for r in tp if r["active_groups"] == 1), None)
        add("| W=1024 over G active groups | writes/s | p50 µs | p99 µs | × 1 group | node cores | node CPU µs per write | foreign cores | verified |")
        add("|---|---|---|---|---|---|---|---|---|")
        for r in tp:
            x = f"{r['ops_per_s'] / one:.2f}" if one else "-"
            add(f"| {r['active_groups']} | {r['ops_per_s']:.0f} | {r['p50_us']:.0f} | {r['p99_us']:.0f} | "
                f"{x} | {r['node_cores']:.2f} | {r['cpu_us_per_op']:.1f} | {r['foreign_cores']:.2f} | {r['verified']} |")
        add("")
    sh = sorted((r for r in rows if r["kind"] == "shards"), key=lambda r: r["shards"])
    if sh:
        one = next((r["ops_per_s"] for r in sh if r["shards"] == 1), None)
        add(f"| shards (W=1024, {sh[0]['groups']} groups) | writes/s | p50 µs | p99 µs | × 1 shard | node cores | node CPU µs per write | foreign cores | verified |")
        add("|---|---|---|---|---|---|---|---|---|")
        for r in sh:
            x = f"{r['ops_per_s'] / one:.2f}" if one else "-"
            add(f"| {r['shards']} | {r['ops_per_s']:.0f} | {r['p50_us']:.0f} | {r['p99_us']:.0f} | {x} | "
                f"{r['node_cores']:.2f} | {r['cpu_us_per_op']:.1f} | {r['foreign_cores']:.2f} | {r['verified']} |")
        add("")
    return "\n".join(lines)


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(2, 2, figsize=(12, 8.5))
    idle = [r for r in rows if r["kind"] == "idle"]
    for q, style in (("on", "o-"), ("off", "s--")):
        rs = sorted((r for r in idle if r["quiesce"] == q), key=lambda r: r["groups"])
        if not rs:
            continue
        xs = [r["groups"] for r in rs]
        ax[0][0].plot(xs, [max(n["cpu_pct"] for n in r["nodes"]) for r in rs], style,
                      label=f"quiescence {q}")
        ax[0][1].plot(xs, [max((v[0] + 0.0 for v in pairs(r["nodes"]).values()), default=0) for r in rs],
                      style, label=f"Raft msgs, quiescence {q}")
        ax[0][1].plot(xs, [max((v[1] for v in pairs(r["nodes"]).values()), default=0) for r in rs],
                      style, alpha=0.5, label=f"frames, quiescence {q}")
    ax[0][0].axhline(2, color="grey", lw=0.8, ls=":", label="target 2 %")
    ax[0][0].set(xscale="log", xlabel="idle groups per node", ylabel="CPU % of a core (busiest node)",
                 title="Idle CPU per node")
    ax[0][0].legend(fontsize=8)
    ax[0][1].axhline(200, color="grey", lw=0.8, ls=":", label="target 200/s")
    ax[0][1].set_yscale("symlog", linthresh=1)
    ax[0][1].set_ylim(bottom=0)
    ax[0][1].set(xscale="log", xlabel="idle groups per node",
                 ylabel="per second, per node pair (max pair)", title="Messages between two nodes")
    ax[0][1].legend(fontsize=8)
    wake = [r for r in rows if r["kind"] == "wake"]
    w1 = {(r.get("groups_hosted"), r.get("quiesce")): r for r in rows if r["kind"] == "w1"}
    if wake:
        labels = [f"{r['groups']} q {r['quiesce']}\npause {r.get('gap_ms', 20)} ms" for r in wake]
        x = range(len(wake))
        ax[1][0].bar([i - 0.27 for i in x], [r["cold_p50_us"] for r in wake], 0.27, label="first put p50")
        ax[1][0].bar(list(x), [r["warm_p50_us"] for r in wake], 0.27, label="second put p50")
        ax[1][0].bar([i + 0.27 for i in x],
                     [w1[(r["groups"], r["quiesce"])]["p50_us"] if (r["groups"], r["quiesce"]) in w1 else 0
                      for r in wake], 0.27, label="W=1 run p50")
        ax[1][0].set_xticks(list(x), labels, fontsize=8)
        ax[1][0].set(ylabel="µs", title="Wake-up: first put to an idle group")
        ax[1][0].legend(fontsize=8)
    tp = sorted((r for r in rows if r["kind"] == "tput"), key=lambda r: r["active_groups"])
    sh = sorted((r for r in rows if r["kind"] == "shards"), key=lambda r: r["shards"])
    if tp:
        ax[1][1].plot([r["active_groups"] for r in tp], [r["ops_per_s"] for r in tp], "o-",
                      label="W=1024 over G groups (1 shard)")
    if sh:
        ax[1][1].plot([sh[0]["groups"]] * 0 + [r["shards"] for r in sh], [r["ops_per_s"] for r in sh],
                      "^:", label=f"{sh[0]['groups']} groups, x = shards")
    ax[1][1].set(xscale="log", xlabel="active groups (or shards)", ylabel="writes/s",
                 title="Throughput, W=1024")
    ax[1][1].set_ylim(bottom=0)
    ax[1][1].legend(fontsize=8)
    fig.suptitle("ringraft multi-raft, 3 nodes on 127.0.0.1 (bench/multiraft.sh)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--table")
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(f"{a.out}/results.jsonl") if l.strip()]
    t = table(rows)
    print(t)
    if a.table:
        open(a.table, "w").write(t + "\n")
    try:
        plot(rows, f"{a.out}/multiraft.png")
        print(f"plot: {a.out}/multiraft.png", file=sys.stderr)
    except ImportError as e:
        print(f"no plot: {e} (apt-get install python3-matplotlib)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
