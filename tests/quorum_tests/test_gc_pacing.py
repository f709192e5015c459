"""The ASGI process's garbage collection on a clock (quorum/gc_pacing.py)."""

import asyncio
import gc
import weakref

from quorum import gc_pacing


class Node:
    pass


def test_cyclic_garbage_is_collected_on_the_clock_and_automatic_collection_comes_back():
    async def main():
        gc_pacing.start(asyncio.get_running_loop())
        try:
            assert not gc.isenabled()
            node = Node()
            node.itself = node  # a cycle: reference counting alone never frees it
            gone = weakref.ref(node)
            del node
            for _ in range(40):
                if gone() is None:
                    break
                await asyncio.sleep(gc_pacing.YOUNG_EVERY)
            assert gone() is None
        finally:
            gc_pacing.stop()
        assert gc.isenabled()

    asyncio.run(main())
