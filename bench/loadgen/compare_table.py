#!/usr/bin/env python3
"""Markdown tables for bench/run_compare.sh: our loadgen runs (ours.jsonl),
memstore under wrk (memstore_wrk.tsv) and the peers' .tsv files (peers/),
with our ratio against each peer and the issue's targets.
Usage: compare_table.py OUT_DIR"""
import csv, glob, json, os, sys

D = sys.argv[1]

def tsv(pattern):
    fs = sorted(glob.glob(os.path.join(D, pattern)))
    if not fs:
        return [], None
    with open(fs[-1]) as f:
        lines = [l for l in f if not l.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t")), os.path.basename(fs[-1])

ours = []
if os.path.exists(os.path.join(D, "ours.jsonl")):
    ours = [json.loads(l) for l in open(os.path.join(D, "ours.jsonl")) if l.strip()]
etcd, etcd_f = tsv("peers/etcd_wrk_*.tsv")
craft, craft_f = tsv("peers/craft_*.tsv")
mem, _ = tsv("memstore_wrk.tsv")
by_w = {int(o["window"]): o for o in ours if o["groups"] == 1}
etcd_c = {int(r["conns"]): r for r in etcd}
craft_w = {int(r["window"]): r for r in craft}
mem_c = {int(r["conns"]): r for r in mem}

def f(x, d=0):
    return "-" if x is None else f"{float(x):,.{d}f}"

def ratio(a, b):
    return "-" if a is None or b is None or float(b) == 0 else f"{float(a) / float(b):.1f}x"

out = []
out.append("### Native protocol, 3 nodes, 128 B values, closed loop (ringraft_loadgen) vs canonical/raft and etcd\n")
out.append(f"peers: {craft_f or 'no craft run'}, {etcd_f or 'no etcd run'} (etcd: wrk -c W through the grpc-gateway)\n")
out.append("| W | ours ops/s | p50 us | p99 us | p99.9 us | max us | node CPU us/op | entries/fsync | verified | craft entries/s | craft p50 us | ours/craft | etcd req/s | etcd p50 ms | ours/etcd |")
out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
for w in sorted(set(by_w) | set(craft_w)):
    o, c, e = by_w.get(w), craft_w.get(w), etcd_c.get(w)
    out.append(f"| {w} | {f(o and o['ops_per_s'])} | {f(o and o['p50_us'])} | {f(o and o['p99_us'])} | "
               f"{f(o and o['p999_us'])} | {f(o and o['max_us'])} | {f(o and o['cpu_us_per_op'], 1)} | "
               f"{f(o and o['entries_per_fsync'], 1) if o and o['entries_per_fsync'] is not None else '-'} | "
               f"{'yes' if o and o['verified'] else ('NO' if o else '-')} | "
               f"{f(c and c['entries_s'])} | {f(c and c['p50_us'])} | {ratio(o and o['ops_per_s'], c and c['entries_s'])} | "
               f"{f(e and e['req_s'])} | {f(e and e['p50_ms'], 2)} | {ratio(o and o['ops_per_s'], e and e['req_s'])} |")
multi = [o for o in ours if o["groups"] > 1]
for o in multi:
    out.append(f"\n{o['groups']} groups, W={o['window']}: {f(o['ops_per_s'])} ops/s, p50 {f(o['p50_us'])} us, "
               f"p99 {f(o['p99_us'])} us, CPU {f(o['cpu_us_per_op'], 1)} us/op, verified {o['verified']}")
if ours:
    out.append("\nDetails per run (ours): node cores, loadgen CPU s, fsyncs/op, bytes written per entry / per op "
               "(the nodes' /proc write_bytes, page-cache accounting; then what reached the device, whole device), "
               "device flushes, foreign cores")
    for o in ours:
        dev_s = f"{o.get('device_write_bytes', 0) / o['seconds'] / 1e6:.1f} MB/s" if o.get('device_write_bytes') and o.get('seconds') else "-"
        out.append(f"- {o['label']}: node cores {o['node_cores']}, loadgen cpu {o['loadgen_cpu_s']} s, fsyncs/op {o['fsyncs_per_op']}, "
                   f"wbytes/entry {o['write_bytes_per_entry']}, wbytes/op {o['write_bytes_per_op']}, "
                   f"device {o.get('device') or '-'} bytes/entry {o.get('device_write_bytes_per_entry')}, bytes/op {o.get('device_write_bytes_per_op')}, "
                   f"{dev_s}, flushes {o.get('device_flushes')}, foreign {o['foreign_cores']}, "
                   f"count check: {o['count_check']}; sample: {o['sample_check']}")
if mem or etcd:
    out.append("\n### HTTP through the same client: wrk -> memstore PUT /store/{key} vs wrk -> etcd /v3/kv/put, 128 B values\n")
    out.append("| conns | memstore req/s | p50 ms | p99 ms | node cores | etcd req/s | etcd p50 ms | etcd p99 ms | etcd cores | memstore/etcd |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in sorted(set(mem_c) | set(etcd_c)):
        m, e = mem_c.get(c), etcd_c.get(c)
        out.append(f"| {c} | {f(m and m['req_s'])} | {f(m and m['p50_ms'], 2)} | {f(m and m['p99_ms'], 2)} | "
                   f"{f(m and m['node_cores'], 2)} | {f(e and e['req_s'])} | {f(e and e['p50_ms'], 2)} | "
                   f"{f(e and e['p99_ms'], 2)} | {f(e and e['etcd_cores'], 2)} | {ratio(m and m['req_s'], e and e['req_s'])} |")
out.append("\n### Targets")
top = by_w.get(1024)
if top:
    c = craft_w.get(1024) or (max(craft, key=lambda r: float(r["entries_s"])) if craft else None)
    e = max(etcd, key=lambda r: float(r["req_s"])) if etcd else None
    out.append(f"- W=1024: {f(top['ops_per_s'])} acked writes/s (target >= 250,000): {'MET' if top['ops_per_s'] >= 250000 else 'missed'}; "
               f"vs craft {ratio(top['ops_per_s'], c and c['entries_s'])} (target >= 10x), "
               f"vs etcd best {ratio(top['ops_per_s'], e and e['req_s'])} (target >= 50x)")
one = by_w.get(1)
if one and one.get("probe_lmdb_commit_p50_us") is not None:
    floor = float(one["probe_lmdb_commit_p50_us"]) + float(one["probe_rtt_p50_us"])
    out.append(f"- W=1: p50 {f(one['p50_us'])} us vs 1.2 x (LMDB commit p50 {f(one['probe_lmdb_commit_p50_us'])} us + "
               f"loopback RTT p50 {f(one['probe_rtt_p50_us'], 1)} us) = {f(1.2 * floor)} us: "
               f"{'MET' if one['p50_us'] <= 1.2 * floor else 'missed'}; p99 {f(one['p99_us'])} us (target <= 2000): "
               f"{'MET' if one['p99_us'] <= 2000 else 'missed'} (the LMDB commit here is the probe's, "
               f"one committer alone before the load)")
if one and one.get("w1_bound_us") is not None:
    bound = float(one["w1_bound_us"])
    out.append(f"- W=1 with the leader's commit p50 measured in the run itself (three nodes syncing on "
               f"one disk): 1.2 x ({f(one['leader_commit_p50_us'])} us + RTT) = {f(bound)} us; "
               f"p50 {f(one['p50_us'])} us = {one['p50_us'] / bound:.2f} x that bound: "
               f"{'MET' if one['p50_us'] <= bound else 'missed'}")
if top and multi:
    m = multi[-1]
    out.append(f"- {m['groups']} groups W={m['window']}: {f(m['ops_per_s'])} vs 1 group {f(top['ops_per_s'])}: "
               f"{'MET' if m['ops_per_s'] >= top['ops_per_s'] else 'missed'}")
print("\n".join(out))
