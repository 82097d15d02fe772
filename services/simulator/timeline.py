"""Time helpers shared by the generators: arrival processes and the ship's daily rhythm."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

__all__ = ["activity", "in_order", "is_daytime", "poisson", "seconds", "ticks", "wander"]


class _Timed(Protocol):
    @property
    def at(self) -> datetime: ...


T = TypeVar("T", bound=_Timed)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def activity(at: datetime) -> float:
    """How busy the ship is at this hour, 0.2 (small hours) to 1.0 (mid-afternoon).

    Ship's time is taken as UTC; guests are awake roughly 07:00-23:00 with a peak at 15:00.
    """
    hour = at.hour + at.minute / 60
    awake = max(0.0, math.sin(math.pi * (hour - 7) / 16)) if 7 <= hour <= 23 else 0.0
    return 0.2 + 0.8 * awake


def is_daytime(at: datetime) -> bool:
    """Office hours of the IT team on board, when admins change configurations."""
    return 8 <= at.hour < 20


def poisson(
    rng: random.Random,
    start: datetime,
    end: datetime,
    rate_per_s: float,
    shape: Callable[[datetime], float] | None = None,
) -> Iterator[datetime]:
    """Arrival times of a Poisson process; `shape` (0..1) thins it to follow the day."""
    if rate_per_s <= 0:
        return
    at = start
    while True:
        at += seconds(rng.expovariate(rate_per_s))
        if at >= end:
            return
        if shape is None or rng.random() < shape(at):
            yield at


def ticks(
    start: datetime, end: datetime, period_s: float, phase_s: float = 0.0
) -> Iterator[datetime]:
    """Regular instants start + phase + k * period before end (a poller's schedule)."""
    k = 0
    while (at := start + seconds(phase_s + k * period_s)) < end:
        yield at
        k += 1


def wander(rng: random.Random, sd: float, rho: float = 0.9) -> Iterator[float]:
    """A mean-zero AR(1) series with stationary deviation `sd`: slow drift plus jitter."""
    innovation = sd * math.sqrt(1 - rho * rho)
    value = rng.gauss(0, sd)
    while True:
        yield value
        value = rho * value + rng.gauss(0, innovation)


def in_order(items: Iterable[T], slack_s: float) -> Iterator[T]:
    """Re-sort a stream of timed items (`.at`) that is never more than slack_s out of order.

    Generators emit a multi-line exchange (a DHCP handshake, an SSH session) when it starts;
    its later lines may overtake the next exchange's first one, never by more than its length.
    """
    heap: list[tuple[datetime, int, T]] = []
    slack = seconds(slack_s)
    for count, item in enumerate(items):
        heapq.heappush(heap, (item.at, count, item))
        while heap[0][0] <= item.at - slack:
            yield heapq.heappop(heap)[2]
    while heap:
        yield heapq.heappop(heap)[2]
