"""A raising apply, a raising snapshot, a non-bytes result, a raising query:
clear errors, the group halts where it must, the process survives."""

import asyncio
import logging

import pytest

import ringraft
from ringraft_testing import Cluster, KvMachine, eventually


class Fragile(KvMachine):
    def apply(self, index, data):
        if data == b"boom":
            raise ValueError("cannot apply boom")
        if data == b"int":
            return 42
        return super().apply(index, data)

    def snapshot(self, writer):
        if self.data.get(b"nosnap"):
            raise RuntimeError("snapshot refused")
        super().snapshot(writer)

    def query(self, data):
        if data == b"bad":
            raise ZeroDivisionError("bad query")
        return super().query(data)


def fragile_cluster(n=1, name="errors"):
    c = Cluster(0, name, snapshot={"every_entries": 0})
    from ringraft_testing import free_port
    c.ports = {i: free_port() for i in range(1, n + 1)}

    def factory(i):
        def make(group):
            m = Fragile()
            c.machines[i] = m
            return m
        return make
    c.factory = factory
    for i in c.ports:
        c.start(i)
    return c


@pytest.fixture
def cluster():
    c = fragile_cluster(3)
    yield c
    c.close()


def test_raising_apply_halts_the_group_naming_the_index(cluster, caplog):
    leader = cluster.leader()
    node = cluster.nodes[leader]
    node.propose_sync(1, b"a=1")
    with caplog.at_level(logging.ERROR, logger="ringraft"):
        with pytest.raises(ringraft.RaftError) as e:
            node.propose_sync(1, b"boom")
    assert "halted" in e.value.message
    assert "ValueError: cannot apply boom" in e.value.message
    index = int(e.value.message.split("could not apply index ")[1].split(":")[0])
    assert index > 1
    assert any("cannot apply boom" in r.getMessage() for r in caplog.records)
    # Every replica halts at the same index (they all raise); each says so.
    for n in cluster.nodes.values():
        eventually(lambda n=n: f"index {index}" in n.group_status(1)["halted"],
                   what="halted in status")
        assert n.metrics()["ringraft_fsm_halted_groups"] == 1
    with pytest.raises(ringraft.RefusedError) as e:
        node.propose_sync(1, b"b=2")
    assert "halted" in e.value.message
    with pytest.raises(ringraft.FailedError):
        node.read_sync(1, b"a")
    assert cluster.machines[leader].data == {b"a": b"1"}


def test_non_bytes_result_is_a_clear_error(cluster):
    leader = cluster.leader()

    async def run():
        with pytest.raises(ringraft.RaftError) as e:
            await cluster.nodes[leader].propose(1, b"int")
        return e.value

    err = asyncio.run(run())
    assert "apply returned int, not bytes" in err.message
    assert "halted" in cluster.nodes[leader].group_status(1)["halted"]


def test_raising_snapshot_fails_the_snapshot_only(cluster):
    leader = cluster.leader()
    node = cluster.nodes[leader]
    node.propose_sync(1, b"nosnap=1")
    with pytest.raises(ringraft.RaftError) as e:
        node.snapshot_sync(1)
    assert "snapshot raised RuntimeError: snapshot refused" in e.value.message
    # The group goes on.
    node.propose_sync(1, b"nosnap=")
    assert node.snapshot_sync(1) > 0
    assert node.group_status(1)["halted"] == ""


def test_raising_query_is_a_failed_read(cluster):
    leader = cluster.leader()
    node = cluster.nodes[leader]
    node.propose_sync(1, b"q=1")
    with pytest.raises(ringraft.FailedError) as e:
        node.read_sync(1, b"bad")
    assert "query raised ZeroDivisionError: bad query" in e.value.message
    assert node.read_sync(1, b"q") == b"1"


def test_bad_config_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="node.address"):
        ringraft.Node.start({"node": {"id": 1, "data_dir": str(tmp_path)}}, lambda g: KvMachine())
    with pytest.raises(ValueError, match="unknown section"):
        ringraft.Node.start({"nodes": {}}, lambda g: KvMachine())


def test_a_halted_leader_hands_leadership_to_a_healthy_replica():
    # Only the first leader's machine refuses the entry: the others apply it,
    # and the halted leader hands over; the cluster goes on without it.
    c = Cluster(3, "halted-leader", snapshot={"every_entries": 0})
    try:
        leader = c.leader()
        original = c.machines[leader].apply

        def apply(index, data):
            if data == b"only-here=1":
                raise RuntimeError("local failure")
            return original(index, data)

        c.machines[leader].apply = apply
        with pytest.raises(ringraft.UnknownOutcomeError):
            c.nodes[leader].propose_sync(1, b"only-here=1")
        others = [i for i in c.nodes if i != leader]

        def healthy_leader():
            lead = c.nodes[others[0]].leader(1)[0]
            return lead in others and c.nodes[lead].leader(1)[0] == lead

        eventually(healthy_leader, what="a healthy replica leads")
        lead = c.nodes[others[0]].leader(1)[0]
        assert c.nodes[lead].propose_sync(1, b"after=2") == b""
        assert c.nodes[lead].read_sync(1, b"only-here") == b"1"
        assert "local failure" in c.nodes[leader].group_status(1)["halted"]
        assert c.nodes[leader].metrics()["ringraft_leader_hand_offs_total"] >= 1
    finally:
        c.close()


def test_a_raising_factory_fails_start_with_a_clear_error(tmp_path):
    from ringraft_testing import free_port, node_config
    port = free_port()
    cfg = node_config(1, port, str(tmp_path / "n1"), peers={1: port})

    def factory(group):
        raise RuntimeError("no machine for you")

    with pytest.raises(ringraft.RaftError, match="factory returned null for group 1"):
        ringraft.Node.start(cfg, factory)
    # The process goes on, and the same data dir starts with a good factory.
    with ringraft.Node.start(cfg, lambda g: KvMachine()) as node:
        eventually(lambda: node.leader(1)[0] == 1, what="single node leads")
        assert node.propose_sync(1, b"ok=1") == b""


class Batched(KvMachine):
    """Overrides apply_batch; answers a batch holding b"short" with no results."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def apply_batch(self, items):
        if any(d == b"short" for _, d in items):
            return []
        self.batches.append(len(items))
        return [KvMachine.apply(self, i, d) for i, d in items]


def test_apply_batch_override_gets_runs_and_its_errors_halt():
    c = Cluster(0, "batched", snapshot={"every_entries": 0})
    from ringraft_testing import free_port
    c.ports = {1: free_port()}
    c.factory = lambda i: (lambda g: c.machines.setdefault(i, Batched()))
    c.start(1)
    try:
        c.leader()
        node = c.nodes[1]

        async def burst():
            return await asyncio.gather(*(node.propose(1, b"b%d=%d" % (i, i)) for i in range(200)))

        assert asyncio.run(burst()) == [b""] * 200
        m = c.machines[1]
        assert sum(m.batches) == 200 and max(m.batches) > 1
        with pytest.raises(ringraft.RaftError) as e:
            node.propose_sync(1, b"short")
        assert "apply_batch returned 0 results for 1 entries" in e.value.message
        assert "halted" in node.group_status(1)["halted"]
    finally:
        c.close()
