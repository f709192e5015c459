"""Garbage collection on a clock for the ASGI process that serves the worker sockets.

CPython starts a young collection when allocations minus deallocations pass a threshold. Under a steady crowd
each answer frees about as many old objects (the last lease, its context) as it creates, so that count barely
moves while the youngest generation grows to tens of thousands of live objects; each collection then walks them
all and stalls every socket of the process for 10-90 ms. Collected on a clock instead, each generation holds only
what arrived since the last tick, and a pause stays at a few milliseconds. Full collections (every live object:
hundreds of milliseconds with thousands of sockets) run every ``FULL_EVERY`` seconds, often enough to return
the memory of cyclic garbage.
"""

import asyncio
import gc
import time

YOUNG_EVERY = 0.025  # seconds between collections of the youngest generation
MIDDLE_EVERY = 4  # every 4th tick collects the middle generation too
FULL_EVERY = 600.0  # seconds between full collections


class Pacer:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.ticks = 0
        self.full_at = time.monotonic() + FULL_EVERY
        self.handle: asyncio.TimerHandle | None = None

    def tick(self) -> None:
        self.ticks += 1
        if time.monotonic() >= self.full_at:
            gc.collect()
            self.full_at = time.monotonic() + FULL_EVERY
        else:
            gc.collect(1 if self.ticks % MIDDLE_EVERY == 0 else 0)
        self.handle = self.loop.call_later(YOUNG_EVERY, self.tick)


_pacer: Pacer | None = None


def start(loop: asyncio.AbstractEventLoop) -> None:
    """Turn automatic collection off and collect from ``loop`` instead, until ``stop``."""
    global _pacer
    if _pacer is not None:
        return
    _pacer = Pacer(loop)
    gc.disable()
    _pacer.handle = loop.call_later(YOUNG_EVERY, _pacer.tick)


def stop() -> None:
    """Back to automatic collection (the loop is going away)."""
    global _pacer
    if _pacer is None:
        return
    if _pacer.handle is not None:
        _pacer.handle.cancel()
    _pacer = None
    gc.enable()
