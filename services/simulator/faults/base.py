"""What a fault is made of: its ground-truth label, its log lines and its effect on telemetry."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..emit import Line
from ..inventory import Inventory
from ..timeline import seconds

__all__ = [
    "Effect",
    "Fault",
    "FaultPlan",
    "FaultSpec",
    "MetricRule",
    "Window",
    "ramp",
    "smoothstep",
]


@dataclass(frozen=True)
class Fault:
    """Ground truth: what an ideal pipeline should raise for this stretch of the scenario."""

    name: str
    start: datetime
    end: datetime
    devices: tuple[str, ...]
    expected_incident_type: str
    root_device: str
    description: str


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def at(self, fraction: float) -> datetime:
        """The instant this fraction (0..1) of the way through the window."""
        return self.start + seconds(self.duration_s * min(1.0, max(0.0, fraction)))

    def fraction(self, at: datetime) -> float:
        return (at - self.start).total_seconds() / self.duration_s

    def contains(self, at: datetime) -> bool:
        return self.start <= at <= self.end


# (fraction of the window elapsed, the value the device would report if healthy) -> the value
# it reports, or None when it reports nothing (device down, probe unanswered).
MetricRule = Callable[[float, float], "float | None"]


@dataclass(frozen=True)
class Effect:
    """How a fault bends the background while it lasts."""

    window: Window
    metrics: Mapping[tuple[str, str], MetricRule] = field(default_factory=dict)
    # (device_id, background stream) pairs whose lines a fault silences; "*" means every stream
    # of the device (it is down, or its normal "all is well" line would contradict the fault).
    mutes: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class FaultPlan:
    lines: list[Line]
    effect: Effect


Builder = Callable[[Inventory, random.Random, Window], FaultPlan]


@dataclass(frozen=True)
class FaultSpec:
    """A kind of fault: its ground truth and how to build its lines and effect for one window."""

    name: str
    incident_type: str
    devices: tuple[str, ...]  # root cause first, then the devices showing symptoms
    natural_s: float  # how long it lasts when the scenario leaves it room
    description: str
    build: Builder

    @property
    def root_device(self) -> str:
        return self.devices[0]

    def label(self, window: Window) -> Fault:
        return Fault(
            name=self.name,
            start=window.start,
            end=window.end,
            devices=self.devices,
            expected_incident_type=self.incident_type,
            root_device=self.root_device,
            description=self.description,
        )

    def plan(self, inv: Inventory, seed: int, window: Window) -> FaultPlan:
        """The fault's lines for this window, time-ordered and stamped with its name."""
        rng = random.Random(f"{seed}:fault:{self.name}:{window.start.isoformat()}")
        built = self.build(inv, rng, window)
        lines = sorted((replace(line, fault=self.name) for line in built.lines), key=_at)
        return FaultPlan(lines, built.effect)


def _at(line: Line) -> datetime:
    return line.at


def smoothstep(x: float) -> float:
    """0 below 0, 1 above 1, an S-curve between: how real signals fade in and out."""
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


def ramp(fraction: float, rise: float, hold_until: float, fall: float = 1.0) -> float:
    """0 -> 1 over [0, rise], 1 until hold_until, back to 0 by fall: a fault's intensity."""
    if fraction < hold_until:
        return smoothstep(fraction / rise) if rise > 0 else 1.0
    return 1.0 - smoothstep((fraction - hold_until) / max(1e-9, fall - hold_until))
