#!/usr/bin/env python3
"""Where the time of one write goes, from latency trace files (common/trace.h).

Usage: trace_w1.py [--slowest F] [--timeline K] TRACE_FILE... (written with RINGRAFT_TRACE_FILE by a
RAFT_LATENCY_TRACE=ON build of the nodes and of ringraft_loadgen, the load run
at --window 1; the file with "lg_send" points is the load generator's).

Every put at window 1 runs alone: from the load generator's send ("lg_send")
to the reply's arrival ("lg_recv"). Each put is followed along its causal
chain (client_recv, propose, the leader's journal write submitted and
durable; each follower's peer_recv, journal_write, journal_durable,
peer_send; the leader's peer_recv of the first answer, proposal_done,
client_reply; LMDB's commits behind the journal are off this path), each point being the first of its
kind after the point it follows. The table prints the median and p90 offset of
each point from the send, in the order of the medians. The node that
received client requests is "L"; the followers are "F1", "F2".
With --slowest F (e.g. 0.01) a second table follows, over the slowest
fraction F of the puts only: where the tail's time goes.
With --timeline K, K puts spread over the run are printed as they happened:
every point of every process between the send and the reply, in time order
(the hand-offs between threads and processes, and their cost, show there).
"""
import statistics
import sys
from bisect import bisect_right


def load(path):
    events = []
    with open(path) as f:
        for line in f:
            ns, tid, name = line.split()
            events.append((int(ns), int(tid), name))
    events.sort()
    return events


def main():
    args = sys.argv[1:]
    slowest = None
    timeline = 0
    while len(args) >= 2 and args[0] in ("--slowest", "--timeline"):
        if args[0] == "--slowest":
            slowest = float(args[1])
        else:
            timeline = int(args[1])
        args = args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    files = [load(p) for p in args]
    lgs = [f for f in files if any(e[2] == "lg_send" for e in f)]
    if len(lgs) != 1:
        sys.exit("need exactly one load generator trace (with lg_send points)")
    lg = lgs[0]
    nodes = [f for f in files if f is not lg]
    leader = max(range(len(nodes)), key=lambda i: sum(1 for e in nodes[i] if e[2] == "client_recv"))
    labels, k = {}, 1
    for i in range(len(nodes)):
        if i == leader:
            labels[i] = "L"
        else:
            labels[i] = f"F{k}"
            k += 1
    merged = []
    for i, evs in enumerate(nodes):
        for ns, tid, name in evs:
            merged.append((ns, f"{labels[i]}.{name}"))
    merged.sort()

    # The path of one put, as a chain: each point is the first of its kind
    # after the point it follows (the leader's points, then each follower's,
    # then the answer).
    followers = [labels[i] for i in range(len(nodes)) if i != leader]
    chain = [("L.client_recv", "send"), ("L.propose", "L.client_recv"),
             ("L.peer_send", "L.propose"), ("L.journal_write", "L.propose"),
             ("L.journal_durable", "L.journal_write")]
    for f in followers:
        chain += [(f"{f}.peer_recv", "L.peer_send"), (f"{f}.journal_write", f"{f}.peer_recv"),
                  (f"{f}.journal_durable", f"{f}.journal_write"),
                  (f"{f}.peer_send", f"{f}.journal_durable")]
    chain += [("L.peer_recv", "first_ack"), ("L.proposal_done", "L.peer_recv"),
              ("L.client_reply", "L.proposal_done")]
    by_key = {}
    for ns, key in merged:
        by_key.setdefault(key, []).append(ns)

    def first_after(key, t, limit):
        v = by_key.get(key, [])
        j = bisect_right(v, t)
        return v[j] if j < len(v) and v[j] <= limit else None

    sends = [e[0] for e in lg if e[2] == "lg_send"]
    recvs = [e[0] for e in lg if e[2] == "lg_recv"]
    puts = []  # (total, {point: offset from the send})
    for s in sends[len(sends) // 5:]:  # Skip the warm-up fifth.
        j = bisect_right(recvs, s)
        if j == len(recvs):
            break
        r = recvs[j]
        at = {"send": s}
        for key, after in chain:
            if after == "first_ack":
                acks = [at[f"{f}.peer_send"] for f in followers if f"{f}.peer_send" in at]
                if not acks:
                    continue
                at[after] = min(acks)
            if after not in at:
                continue
            t = first_after(key, at[after], r)
            if t is not None:
                at[key] = t
        puts.append((r - s, {k: t - s for k, t in at.items() if k not in ("send", "first_ack")}))
    if not puts:
        sys.exit("no complete put in the traces")
    table(puts, chain, "all puts")
    if slowest:
        puts.sort(key=lambda p: p[0])
        tail = puts[int(len(puts) * (1 - slowest)):]
        print()
        table(tail, chain, f"the slowest {slowest:.1%} (from {tail[0][0] / 1000:.0f} us)")
    if timeline:
        merged += [(ns, f"lg.{name}") for ns, _, name in lg]
        merged.sort()
        times = [m[0] for m in merged]
        measured = sends[len(sends) // 5:]
        for k in range(timeline):
            s = measured[(k * len(measured)) // timeline]
            j = bisect_right(recvs, s)
            if j == len(recvs):
                break
            lo, hi = bisect_right(times, s) - 1, bisect_right(times, recvs[j])
            print()
            print(f"put at +{(s - sends[0]) / 1e9:.3f} s, {(recvs[j] - s) / 1000:.0f} us:")
            print("  " + " | ".join(f"{(ns - s) / 1000:.0f} {key}" for ns, key in merged[lo:hi]))


def table(puts, chain, title):
    total = sorted(p[0] for p in puts)
    n = len(total)
    offsets = {}
    for _, at in puts:
        for key, t in at.items():
            offsets.setdefault(key, []).append(t)
    print(f"{title}: {n} puts; lg_send -> lg_recv median {statistics.median(total) / 1000:.0f} us")
    print(f"{'point (offset from the send)':30} {'p50 us':>8} {'p90 us':>8} {'seen':>6}")
    rows = []
    for key, _ in chain:
        v = sorted(offsets.get(key, []))
        if len(v) < n * 0.5:
            continue  # Not on the path of most puts.
        rows.append((statistics.median(v), v[int(len(v) * 0.9)], len(v) / n, key))
    for med, p90, share, key in sorted(rows):
        print(f"{key:30} {med / 1000:8.0f} {p90 / 1000:8.0f} {share:6.0%}")
    print(f"{'lg_recv':30} {statistics.median(total) / 1000:8.0f} {total[int(n * 0.9)] / 1000:8.0f}")


if __name__ == "__main__":
    main()
