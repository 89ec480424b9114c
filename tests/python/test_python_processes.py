"""Three Python node processes (examples/python/memstore.py): kill -9 the
leader by its PID, a new leader is elected and serves the data, and the
killed node, restarted from its data dir, catches up."""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

from ringraft_testing import eventually, free_port

MEMSTORE = os.path.join(os.environ.get("RINGRAFT_SOURCE_DIR", os.path.join(
    os.path.dirname(__file__), "..", "..")), "examples", "python", "memstore.py")


def request(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Procs:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="ringraft-py-procs-")
        self.raft = {i: free_port() for i in (1, 2, 3)}
        self.http = {i: free_port() for i in (1, 2, 3)}
        self.procs = {}

    def start(self, i):
        peers = ",".join(f"{j}=127.0.0.1:{p}" for j, p in self.raft.items())
        log = open(os.path.join(self.root, f"n{i}.log"), "ab")
        self.procs[i] = subprocess.Popen(
            [sys.executable, MEMSTORE, "--id", str(i), "--address", f"127.0.0.1:{self.raft[i]}",
             "--data-dir", os.path.join(self.root, f"n{i}"), "--peers", peers,
             "--http", f"127.0.0.1:{self.http[i]}", "--tick-ms", "20"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill9(self, i):
        p = self.procs.pop(i)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(30)

    def leader(self, among):
        found = []

        def one():
            ids = set()
            for i in among:
                st, body = request(self.http[i], "GET", "/leader")
                if st != 200:
                    return False
                ids.add(json.loads(body)["leader_id"])
            if len(ids) == 1 and next(iter(ids)) in among:
                found.append(next(iter(ids)))
                return True
            return False

        eventually(one, 30, "one leader among %s" % sorted(among))
        return found[-1]

    def close(self):
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.close()


def test_kill_the_leader_then_restart_it(procs):
    for i in (1, 2, 3):
        procs.start(i)
    leader = procs.leader({1, 2, 3})
    assert request(procs.http[leader], "PUT", "/store/a", b"1")[0] == 201
    assert request(procs.http[leader], "PUT", "/store/b/2")[0] == 201
    follower = next(i for i in (1, 2, 3) if i != leader)
    assert request(procs.http[follower], "GET", "/store/a") == (200, b"1")

    procs.kill9(leader)
    alive = {1, 2, 3} - {leader}
    new_leader = procs.leader(alive)
    assert new_leader != leader
    assert request(procs.http[new_leader], "GET", "/store/a") == (200, b"1")
    assert request(procs.http[new_leader], "PUT", "/store/c", b"3")[0] == 201
    assert request(procs.http[new_leader], "DELETE", "/store/b")[0] == 200

    procs.start(leader)  # Same data dir: restarts, catches up.

    def caught_up():
        st, body = request(procs.http[leader], "GET", "/store/c?stale=true")
        return st == 200 and body == b"3" and \
            request(procs.http[leader], "GET", "/store/b?stale=true")[0] == 404

    eventually(caught_up, 30, "the restarted node caught up")
    st, body = request(procs.http[leader], "GET", "/status")
    assert st == 200 and json.loads(body)["groups"][0]["halted"] == ""
    st, body = request(procs.http[leader], "GET", "/metrics")
    assert st == 200 and b"ringraft_applied_entries_total" in body
