#!/usr/bin/env python3
"""What the disk under DIR does for N concurrent writers that each append a
chunk and fdatasync it, in a loop: aggregate MB/s, syncs/s and the p50 of one
write+sync. Three writers stand for a local 3-node cluster on one disk; the
chunk for one node's commit (entries per commit x bytes per entry).

Usage: disk_probe.py DIR [--writers 3] [--chunks 4096,65536,131072,1048576]
                         [--seconds 4]

Each writer works in its own file under DIR, written with zeros and synced
first (64 MiB), so the measured syncs flush data only, as an LMDB commit
that reuses its file does (no file growth, no journal commit per sync).
Files are removed at the end.
"""
import argparse
import multiprocessing as mp
import os
import time

FILE_BYTES = 64 << 20


def writer(path, chunk, seconds, start, out):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        zeros = b"\0" * (1 << 20)
        for off in range(0, FILE_BYTES, len(zeros)):
            os.pwrite(fd, zeros, off)
        os.fdatasync(fd)
        buf = os.urandom(chunk)
        start.wait()
        lat, off, n = [], 0, 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            s = time.monotonic()
            os.pwrite(fd, buf, off)
            os.fdatasync(fd)
            lat.append(time.monotonic() - s)
            off = (off + chunk) % (FILE_BYTES - chunk)
            n += 1
        elapsed = time.monotonic() - t0
        lat.sort()
        out.put((n * chunk / elapsed, n / elapsed, lat[len(lat) // 2]))
    finally:
        os.close(fd)
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--writers", type=int, default=3)
    ap.add_argument("--chunks", default="4096,65536,131072,1048576")
    ap.add_argument("--seconds", type=float, default=4)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    print(f"| writers | chunk bytes | MB/s | syncs/s | write+sync p50 ms |")
    print(f"|---:|---:|---:|---:|---:|")
    for chunk in (int(c) for c in a.chunks.split(",")):
        start = mp.Barrier(a.writers)
        out = mp.Queue()
        procs = [mp.Process(target=writer, args=(os.path.join(a.dir, f"disk_probe.{os.getpid()}.{i}"),
                                                 chunk, a.seconds, start, out))
                 for i in range(a.writers)]
        for p in procs:
            p.start()
        res = [out.get() for _ in procs]
        for p in procs:
            p.join()
        p50 = sorted(r[2] for r in res)[len(res) // 2]
        print(f"| {a.writers} | {chunk} | {sum(r[0] for r in res) / 1e6:.1f} | "
              f"{sum(r[1] for r in res):.0f} | {p50 * 1e3:.2f} |")


if __name__ == "__main__":
    main()
