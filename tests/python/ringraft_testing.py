"""Helpers of the Python binding's tests: free ports, temporary data dirs,
a small key-value state machine, polling with a deadline, and a cluster of
nodes in this process."""

import os
import random
import shutil
import socket
import tempfile
import threading
import time

import ringraft

_rng = random.Random(os.getpid() * 2654435761)
_handed_out = set()
_lock = threading.Lock()


def free_port():
    """A 127.0.0.1 port free a moment ago, below the ephemeral range."""
    with _lock:
        while True:
            port = 10000 + _rng.randrange(22000)
            if port in _handed_out:
                continue
            _handed_out.add(port)
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
            finally:
                s.close()


def eventually(cond, timeout=20.0, what="condition"):
    """Polls cond() until it is true or timeout passes; raises on timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except Exception as e:  # noqa: BLE001 - retried until the deadline.
            last_exc = e
        time.sleep(0.01)
    raise AssertionError(f"{what} did not hold within {timeout}s (last error: {last_exc!r})")


class KvMachine(ringraft.StateMachine):
    """b"key=value" puts; apply returns the previous value (b"" if none);
    query(key) returns the value or raises KeyError."""

    def __init__(self):
        self.data = {}
        self.applies = 0
        self.restores = 0

    def apply(self, index, data):
        key, _, value = data.partition(b"=")
        previous = self.data.get(key, b"")
        self.data[key] = value
        self.applies += 1
        return previous

    def query(self, data):
        return self.data[data]

    def snapshot(self, writer):
        for k, v in sorted(self.data.items()):
            writer.write(b"%d:%s%d:%s" % (len(k), k, len(v), v))

    def restore(self, reader):
        buf = bytearray()
        while True:
            chunk = reader.read(1 << 16)
            if not chunk:
                break
            buf += chunk
        data = {}
        pos = 0
        while pos < len(buf):
            parts = []
            for _ in range(2):
                colon = buf.index(b":", pos)
                n = int(buf[pos:colon])
                parts.append(bytes(buf[colon + 1:colon + 1 + n]))
                pos = colon + 1 + n
            data[parts[0]] = parts[1]
        self.data = data
        self.restores += 1


def node_config(node_id, port, data_dir, peers=None, join=None, **sections):
    cfg = {
        "node": {"id": node_id, "address": f"127.0.0.1:{port}", "data_dir": data_dir},
        "raft": {"tick_interval_ms": 10, "election_ticks": 20},
        "network": {"connect_timeout_ms": 200},
        "client": {"request_timeout_ms": 10000},
    }
    if join:
        del cfg["node"]["id"]
        cfg["node"]["join"] = join
    if peers:
        cfg["peers"] = [{"id": i, "address": f"127.0.0.1:{p}"} for i, p in peers.items()]
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    return cfg


class Cluster:
    """Nodes 1..n in this process, each with a KvMachine per group."""

    def __init__(self, n=3, name="cluster", **sections):
        self.root = tempfile.mkdtemp(prefix=f"ringraft-py-{name}-")
        self.ports = {i: free_port() for i in range(1, n + 1)}
        self.sections = sections
        self.nodes = {}
        self.machines = {}  # node id -> KvMachine (group 1)
        for i in self.ports:
            self.start(i)

    def data_dir(self, i):
        return os.path.join(self.root, f"n{i}")

    def config(self, i):
        return node_config(i, self.ports[i], self.data_dir(i), peers=self.ports, **self.sections)

    def factory(self, i):
        def make(group):
            m = KvMachine()
            self.machines[i] = m
            return m
        return make

    def start(self, i, config=None):
        self.nodes[i] = ringraft.Node.start(config or self.config(i), self.factory(i))
        return self.nodes[i]

    def stop(self, i):
        self.nodes.pop(i).stop()

    def leader(self, timeout=20.0):
        found = []

        def has_leader():
            ids = {n.leader(1)[0] for n in self.nodes.values()}
            ids.discard(0)
            if len(ids) == 1 and next(iter(ids)) in self.nodes and \
                    self.nodes[next(iter(ids))].leader(1)[0] == next(iter(ids)):
                found.append(next(iter(ids)))
                return True
            return False

        eventually(has_leader, timeout, "one leader")
        return found[-1]

    def close(self):
        for i in list(self.nodes):
            self.stop(i)
        shutil.rmtree(self.root, ignore_errors=True)
