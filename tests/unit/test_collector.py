"""The freezing collector: survivors of a full collection are frozen (not walked again), garbage
cycles are still collected, and the periodic sweep reclaims cycles made among frozen objects."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from aiops_core.collector import FreezingCollector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def collector():
    collector = FreezingCollector()
    collector.install()
    yield collector
    collector.uninstall()
    gc.unfreeze()


def cycle() -> tuple[weakref.ref, weakref.ref]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a), weakref.ref(b)


def test_survivors_of_a_full_collection_are_frozen(collector):
    kept = [Node() for _ in range(1000)]
    before = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() >= before + len(kept)
    assert not any(gc.is_tracked(n) and n in gc.get_objects(2) for n in kept[:3])


def test_young_garbage_cycles_are_still_collected(collector):
    a, b = cycle()
    gc.collect()
    assert a() is None and b() is None


def test_a_cycle_among_frozen_objects_waits_for_the_sweep(collector):
    holder = [Node(), Node()]
    a, b = weakref.ref(holder[0]), weakref.ref(holder[1])
    gc.collect()  # both survive and are frozen
    holder[0].other, holder[1].other = holder[1], holder[0]
    del holder
    gc.collect()
    assert a() is not None  # frozen: a full collection does not walk it
    collector.sweep()
    assert a() is None and b() is None
    assert gc.get_freeze_count() > 0  # what is alive is frozen again


def test_frozen_objects_are_still_freed_when_unreferenced(collector):
    kept = Node()
    ref = weakref.ref(kept)
    gc.collect()
    del kept
    assert ref() is None


async def test_the_periodic_sweep_runs_until_stopped(collector, monkeypatch):
    sweeps = []
    monkeypatch.setattr(collector, "sweep", lambda: sweeps.append(1))
    stop = asyncio.Event()
    task = asyncio.create_task(collector.sweep_periodically(stop, every_seconds=0.01))
    while len(sweeps) < 2:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)


def test_uninstall_removes_the_callback():
    collector = FreezingCollector()
    collector.install()
    collector.install()
    assert gc.callbacks.count(collector._observe) == 1
    collector.uninstall()
    assert collector._observe not in gc.callbacks
    gc.unfreeze()
