"""No deadlock when Python code calls into the node while applies run:
event-loop tasks propose from completions of other proposals, a thread
makes blocking calls at the same time, and the state machine itself makes
an asynchronous call into the node from inside apply."""

import asyncio
import threading

from ringraft_testing import Cluster, KvMachine, eventually


def test_proposals_from_completions_and_threads_while_applying():
    c = Cluster(3, "reentrant")
    try:
        leader = c.leader()
        node = c.nodes[leader]
        # Inside apply (shard thread, GIL held): read the node's status
        # through the asynchronous API; its completion comes later.
        seen = []
        original = c.machines[leader].apply

        def apply(index, data):
            node._core.read_async(1, b"chain-0", False, lambda err, v: seen.append((err, v)), None)
            return original(index, data)

        c.machines[leader].apply = apply
        stop = threading.Event()
        blocking_done = []

        def blocking():
            i = 0
            while not stop.is_set():
                node.propose_sync(1, b"t%d=%d" % (i, i))
                node.read_sync(1, b"t%d" % i, linearizable=False)
                # Inspection waits for the shard threads, which take the
                # GIL to apply: it must not hold the GIL while it waits.
                assert [g["group"] for g in node.status()["groups"]] == [1]
                assert node.metrics()["ringraft_applied_entries_total"] > 0
                i += 1
            blocking_done.append(i)

        t = threading.Thread(target=blocking)
        t.start()

        async def chain(k, n):
            for i in range(n):
                await node.propose(1, b"chain-%d=%d" % (k, i))
                # From the completion, straight back into the node.
                assert await node.read(1, b"chain-%d" % k) == b"%d" % i

        async def run():
            await asyncio.wait_for(asyncio.gather(*(chain(k, 50) for k in range(20))), 60)

        asyncio.run(run())
        stop.set()
        t.join(60)
        assert not t.is_alive()
        assert blocking_done and blocking_done[0] > 0
        eventually(lambda: len(seen) >= 1000, what="reads made from inside apply completed")
        assert all(err is None or err[0] == "NOT_FOUND" for err, _ in seen), seen[:3]
    finally:
        c.close()
