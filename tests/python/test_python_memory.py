"""100,000 proposals leave no growth of Python objects: the memory
tracemalloc sees allocated by Python code stays flat between a warm-up run
and the measured runs (the state machine overwrites a bounded key set)."""

import asyncio
import gc
import tracemalloc

from ringraft_testing import Cluster




def test_no_python_object_growth_over_100k_proposals():
    c = Cluster(1, "memory", snapshot={"every_entries": 20000, "keep_entries": 1000})
    try:
        leader = c.leader()
        node = c.nodes[leader]
        window = 256

        async def load(n):
            # `window` workers, each proposing in turn: W proposals in flight.
            counter = iter(range(n))

            async def worker():
                for i in counter:
                    await node.propose(1, b"k%03d=%08d" % (i % 512, i))

            await asyncio.gather(*(worker() for _ in range(window)))

        asyncio.run(load(10000))  # Warm-up: keys, caches, the loop's internals.
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        objects_before = len(gc.get_objects())
        asyncio.run(load(100000))
        gc.collect()
        after = tracemalloc.take_snapshot()
        objects_after = len(gc.get_objects())
        tracemalloc.stop()
        growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
        top = after.compare_to(before, "lineno")[:5]
        assert growth < 256 * 1024, f"{growth} bytes more after 100k proposals: {top}"
        assert objects_after - objects_before < 1000, (objects_before, objects_after)
        assert c.machines[leader].applies >= 110000
    finally:
        c.close()
