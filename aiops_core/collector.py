"""The cyclic garbage collector, tuned for a process that runs for months around one event loop.

CPython's full collection walks every container object the process holds that is not frozen.
In the embedded node that is hundreds of thousands (decoded messages waiting for their last
consumer, open incidents, the llm-enricher's caches), and under load a full collection came
every few seconds: a stop of the event loop that grew with the heap, from 26 to 360 ms within a
minute at 1,000 lines/s, while collecting almost nothing (docs/PERFORMANCE.md). Most of the
heap is acyclic and freed by reference counting anyway.

So what a full collection leaves alive is frozen with it: the next full collection walks only
what was made since, which keeps each one short. What is frozen is still freed by reference
counting when it is no longer used; only a reference cycle made among frozen objects would
wait, until the periodic sweep unfreezes everything and collects it all once (one long pause,
an hour apart)."""

from __future__ import annotations

import asyncio
import gc
import time

from aiops_core import metrics

SWEEP_EVERY_SECONDS = 3600.0


class FreezingCollector:
    def __init__(self) -> None:
        self._started = 0.0
        self._sweeping = False

    def install(self) -> None:
        """Collects and freezes what start-up made (code, policies, models, restored state), then
        freezes the survivors of every later full collection."""
        gc.collect()
        gc.freeze()
        if self._observe not in gc.callbacks:
            gc.callbacks.append(self._observe)

    def uninstall(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)

    def sweep(self) -> None:
        """Everything unfrozen, collected, and frozen again: reclaims reference cycles that
        became garbage after their objects were frozen."""
        self._sweeping = True
        try:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
        finally:
            self._sweeping = False

    async def sweep_periodically(self, stop: asyncio.Event, every_seconds: float = SWEEP_EVERY_SECONDS) -> None:
        while True:
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_seconds)
                return
            except asyncio.TimeoutError:
                self.sweep()

    def _observe(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        metrics.GC_PAUSE.labels(str(generation)).observe(time.perf_counter() - self._started)
        if generation == 2 and not self._sweeping:
            gc.freeze()
