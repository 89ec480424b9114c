"""Three nodes in this process with Python state machines: propose, a
linearizable read on a follower, leader transfer, membership change,
snapshot and restore, restart from the data dirs."""

import asyncio

import pytest

import ringraft
from ringraft_testing import Cluster, KvMachine, eventually, free_port, node_config


@pytest.fixture
def cluster():
    c = Cluster(3, "cluster", snapshot={"every_entries": 0, "keep_entries": 5})
    yield c
    c.close()


def test_propose_and_read_on_a_follower(cluster):
    leader = cluster.leader()
    follower = next(i for i in cluster.nodes if i != leader)

    async def run():
        node = cluster.nodes[leader]
        assert await node.propose(1, b"x=1") == b""
        assert await node.propose(1, b"x=2") == b"1"
        index, term, result = await node.propose_entry(1, b"y=3")
        assert index > 0 and term > 0 and result == b""
        # A linearizable read on a follower sees every acknowledged write.
        assert await cluster.nodes[follower].read(1, b"x") == b"2"
        assert await cluster.nodes[follower].read(1, b"y", linearizable=True) == b"3"
        with pytest.raises(ringraft.FailedError) as e:
            await cluster.nodes[follower].read(1, b"missing")
        assert e.value.code == "NOT_FOUND"

    asyncio.run(run())
    # Blocking forms.
    assert cluster.nodes[leader].propose_sync(1, b"z=9") == b""
    assert cluster.nodes[follower].read_sync(1, b"z") == b"9"
    eventually(lambda: all(m.data.get(b"z") == b"9" for m in cluster.machines.values()),
               what="every replica applied z")


def test_follower_propose_is_forwarded_and_not_leader_carries_the_hint():
    c = Cluster(3, "hint", client={"forward_to_leader": False})
    try:
        leader = c.leader()
        follower = next(i for i in c.nodes if i != leader)
        with pytest.raises(ringraft.NotLeaderError) as e:
            c.nodes[follower].propose_sync(1, b"a=1")
        assert e.value.outcome == "refused"
        assert e.value.leader_id == leader
        assert e.value.leader_address == f"127.0.0.1:{c.ports[leader]}"
    finally:
        c.close()


def test_leader_transfer(cluster):
    leader = cluster.leader()
    target = next(i for i in cluster.nodes if i != leader)

    async def run():
        await cluster.nodes[leader].propose(1, b"k=v")
        await cluster.nodes[leader].transfer_leader(1, target)

    asyncio.run(run())
    eventually(lambda: cluster.nodes[target].leader(1)[0] == target, what="target leads")
    assert cluster.nodes[target].propose_sync(1, b"k=w") == b"v"


def test_membership_change_and_snapshot_restore(cluster):
    leader = cluster.leader()
    node = cluster.nodes[leader]
    for i in range(30):
        node.propose_sync(1, b"key%d=%d" % (i, i))
    index = node.snapshot_sync(1)
    assert index >= 30
    for i in range(30, 40):  # More than keep_entries after the snapshot.
        node.propose_sync(1, b"key%d=%d" % (i, i))
    asyncio.run(node.snapshot(1))

    # change_membership: add a learner (never started) and remove it again.
    async def add_remove():
        conf = await node.change_membership(1, [ringraft.add_learner(9, "127.0.0.1:1")])
        assert 9 in conf["learners"]
        conf = await node.change_membership(1, [ringraft.remove(9)])
        assert 9 not in conf["learners"]

    asyncio.run(add_remove())
    # A fourth node joins with a fresh data dir: behind the compacted log, it
    # must restore the snapshot.
    port = free_port()
    cluster.ports[4] = port
    cluster.start(4, node_config(0, port, cluster.data_dir(4), join=node.address,
                                 node={"join_as": "learner"}, snapshot={"every_entries": 0}))
    new_id = cluster.nodes[4].id
    assert new_id not in (1, 2, 3)
    eventually(lambda: cluster.machines[4].data.get(b"key39") == b"39", what="node 4 caught up")
    assert cluster.machines[4].restores == 1
    assert cluster.nodes[4].read_sync(1, b"key3") == b"3"
    conf = node.change_membership_sync(1, [ringraft.promote(new_id)])
    assert new_id in conf["voters"]
    conf = node.change_membership_sync(1, [ringraft.remove(new_id)])
    assert new_id not in conf["voters"] and new_id not in conf["learners"]
    eventually(lambda: cluster.nodes[4].group_status(1)["removed"], what="node 4 knows it left")


def test_restart_from_data_dirs(cluster):
    leader = cluster.leader()
    for i in range(20):
        cluster.nodes[leader].propose_sync(1, b"r%d=%d" % (i, i))
    cluster.nodes[leader].snapshot_sync(1)
    cluster.nodes[leader].propose_sync(1, b"after=snapshot")
    for i in list(cluster.nodes):
        cluster.stop(i)
    for i in cluster.ports:
        cluster.start(i)
    leader = cluster.leader()
    assert cluster.nodes[leader].read_sync(1, b"after") == b"snapshot"
    assert cluster.nodes[leader].read_sync(1, b"r7") == b"7"
    eventually(lambda: all(m.data.get(b"after") == b"snapshot" for m in cluster.machines.values()),
               what="every replica restored")
    assert any(m.restores for m in cluster.machines.values())


def test_status_and_metrics(cluster):
    leader = cluster.leader()
    cluster.nodes[leader].propose_sync(1, b"m=1")
    st = cluster.nodes[leader].status()
    assert st["groups"][0]["role"] == "leader"
    assert st["groups"][0]["halted"] == ""
    m = cluster.nodes[leader].metrics()
    assert m["ringraft_applied_entries_total"] >= 1
    assert m["ringraft_fsm_halted_groups"] == 0
    assert m["ringraft_groups_led"] == 1
    node = cluster.nodes[leader]
    assert st["leader_balance"] is False and st["leaders"] == 1
    node.set_leader_balance(True)
    assert node.leader_balance is True
    assert node.metrics()["ringraft_leader_balance"] == 1
    node.set_leader_balance(False)
    assert node.leader_balance is False
