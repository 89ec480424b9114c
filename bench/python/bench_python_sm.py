#!/usr/bin/python3
"""Throughput at W proposals in flight (default 256) of the same in-process
cluster with a Python state machine and with the C++ one (NativeKvMachine,
the same b"key=value" logic), in one run. Two drivers for each: a closed
loop in C++ (Node.bench_propose: no Python per request) and an asyncio one
(await node.propose). Prints proposals/s, the Python/C++ ratio, and where a
Python machine's apply time goes (GIL wait, time in Python per entry,
entries per batch), and the same for a machine whose apply does nothing
(the binding's own cost per entry).

    PYTHONPATH=build/release/python /usr/bin/python3 bench/python/bench_python_sm.py \\
        [--nodes 3] [--window 256] [--count 100000] [--rounds 3]
"""

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time

import ringraft


class KvMachine(ringraft.StateMachine):
    """The Python twin of NativeKvMachine."""

    def __init__(self):
        self.data = {}

    def apply(self, index, data):
        key, _, value = data.partition(b"=")
        previous = self.data.get(key, b"")
        self.data[key] = value
        return previous

    def query(self, key):
        return self.data[key]

    def snapshot(self, writer):
        for k, v in self.data.items():
            writer.write(b"%d:%s%d:%s" % (len(k), k, len(v), v))

    def restore(self, reader):
        while reader.read(1 << 20):
            pass
        self.data = {}


class NoopMachine(KvMachine):
    """apply does nothing: its time per entry is the binding's own cost
    (the bytes object for the entry, the call, the result check)."""

    def apply(self, index, data):
        return b""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_cluster(n, factory, root):
    ports = {i: free_port() for i in range(1, n + 1)}
    nodes = {}
    for i, p in ports.items():
        nodes[i] = ringraft.Node.start({
            "node": {"id": i, "address": f"127.0.0.1:{p}", "data_dir": os.path.join(root, f"n{i}")},
            "raft": {"tick_interval_ms": 20, "election_ticks": 10},
            "snapshot": {"every_entries": 0},
            "peers": [{"id": j, "address": f"127.0.0.1:{q}"} for j, q in ports.items()],
        }, factory)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lead = nodes[1].leader(1)[0]
        if lead and nodes[lead].leader(1)[0] == lead:
            return nodes, lead
        time.sleep(0.01)
    raise SystemExit("no leader")


def asyncio_load(node, count, window):
    async def run():
        it = iter(range(count))

        async def worker():
            for i in it:
                await node.propose(1, b"k%d=%d" % (i % 4096, i))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(window)))
        return time.perf_counter() - t0

    return asyncio.run(run())


KINDS = ("native", "python", "python_noop")
FACTORIES = {"python": lambda g: KvMachine(), "python_noop": lambda g: NoopMachine(),
             "native": lambda g: ringraft.NativeKvMachine()}


def measure_all(args):
    """Every kind's cluster runs side by side; the loads alternate between
    them, `rounds` times, so that a noisy neighbour hits all alike. Returns
    per kind the median rates and the summed apply stats."""
    roots, clusters = {}, {}
    for kind in KINDS:
        roots[kind] = tempfile.mkdtemp(prefix=f"ringraft-bench-{kind}-")
        clusters[kind] = start_cluster(args.nodes, FACTORIES[kind], roots[kind])
    out = {k: {"cxx": [], "asyncio": [], "errors": 0,
               "stats": {"batches": 0, "entries": 0, "gil_wait_s": 0.0, "python_s": 0.0}}
           for k in KINDS}
    try:
        for kind in KINDS:  # Warm-up.
            nodes, lead = clusters[kind]
            nodes[lead]._core.bench_propose(1, args.count // 10, args.window, 4096)
        for _ in range(args.rounds):
            for kind in KINDS:
                nodes, lead = clusters[kind]
                ringraft.apply_stats(reset=True)
                secs, errors = nodes[lead]._core.bench_propose(1, args.count, args.window, 4096)
                st = ringraft.apply_stats(reset=True)
                for k in st:
                    out[kind]["stats"][k] += st[k]
                out[kind]["cxx"].append(args.count / secs)
                out[kind]["errors"] += errors
                out[kind]["asyncio"].append(args.count / asyncio_load(nodes[lead], args.count,
                                                                      args.window))
    finally:
        for kind in KINDS:
            for n in clusters[kind][0].values():
                n.stop()
            shutil.rmtree(roots[kind], ignore_errors=True)
    for kind in KINDS:
        out[kind]["cxx_driver"] = statistics.median(out[kind]["cxx"])
        out[kind]["asyncio_driver"] = statistics.median(out[kind]["asyncio"])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--count", type=int, default=100000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    r = measure_all(args)
    print(f"{args.nodes} nodes in one process, W={args.window}, {args.count} proposals per run, "
          f"median of {args.rounds} alternating runs")
    print(f"{'driver':<16}{'C++ machine/s':>16}{'Python machine/s':>18}{'ratio':>8}")
    for d in ("cxx_driver", "asyncio_driver"):
        print(f"{d:<16}{r['native'][d]:>16.0f}{r['python'][d]:>18.0f}"
              f"{r['python'][d] / r['native'][d]:>8.2f}")
    s = r["python"]["stats"]
    if s["entries"]:
        print(f"Python machine, C++ driver: {s['entries']} entries applied in {s['batches']} batches "
              f"({s['entries'] / s['batches']:.1f} per batch, all {args.nodes} replicas, all runs); "
              f"GIL wait {s['gil_wait_s'] * 1e6 / s['batches']:.1f} us per batch, "
              f"in Python {s['python_s'] * 1e9 / s['entries']:.0f} ns per entry "
              f"({s['python_s']:.2f} s in Python, {s['gil_wait_s']:.2f} s waiting for the GIL)")
    n = r["python_noop"]["stats"]
    if n["entries"]:
        print(f"binding alone (apply returning b'' at once): {n['python_s'] * 1e9 / n['entries']:.0f} "
              f"ns per entry, C++ driver {r['python_noop']['cxx_driver']:.0f}/s, "
              f"asyncio driver {r['python_noop']['asyncio_driver']:.0f}/s")
    if r["native"]["errors"] or r["python"]["errors"]:
        print(f"errors: native {r['native']['errors']}, python {r['python']['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
