"""Named, seeded scenarios: background plus labelled faults, as one time-ordered event stream.

The same name, start, duration and seed always give the same events, byte for byte, so a
scenario is a reproducible test fixture as well as a demo. Nothing here touches the network:
a sender replays `Scenario.events()` to UDP 1514 and the metrics API, pacing by `wall_offset_s`.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Literal

from .background import background_lines
from .emit import METRIC_UNITS, Line, Sample
from .faults import FAULTS, Effect, Fault, FaultPlan, Window
from .inventory import DEMO_INVENTORY_PATH, Inventory, load_inventory
from .telemetry import telemetry_samples
from .timeline import seconds

__all__ = [
    "MIN_FAULT_WINDOW_S",
    "MIXED_CYCLE_S",
    "SCENARIOS",
    "Fault",
    "Scenario",
    "SimEvent",
    "build_scenario",
]

# Shorter than this, a fault's phases (onset, peak, recovery) blur into each other.
MIN_FAULT_WINDOW_S = 60.0
# Detectors need a few minutes of normal traffic (template mining, EWMA warm-up) before a fault.
SINGLE_LEAD_IN_S = 600.0
MIXED_CYCLE_S = 3600.0
# In a mixed run (the demo) the first fault comes early, so a new user sees an incident within
# minutes; pattern and threshold detectors need no warm-up, only the statistical ones do.
MIXED_LEAD_IN_S = 90.0

SCENARIOS: Mapping[str, str] = MappingProxyType(
    {
        "background": "A healthy day at sea: background logs and telemetry only, no fault.",
        **{name: spec.description for name, spec in FAULTS.items()},
        "mixed": "Every fault once an hour, in a seed-chosen order, with quiet gaps between.",
    }
)


@dataclass(frozen=True)
class SimEvent:
    """One thing a device sends: a syslog datagram (bytes) or a metric sample (a dict).

    `fault` names the fault that produced or bent this event (ground truth), None for background.
    """

    at: datetime
    kind: Literal["syslog", "metric"]
    device_id: str
    payload: bytes | dict[str, Any]
    fault: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    start: datetime
    duration_s: float
    seed: int
    speed: float
    inventory: Inventory
    faults: tuple[Fault, ...]
    _windows: tuple[tuple[str, Window], ...] = field(repr=False)

    @property
    def end(self) -> datetime:
        return self.start + seconds(self.duration_s)

    @property
    def ship_id(self) -> str:
        return self.inventory.ship_id

    def wall_offset_s(self, event: SimEvent) -> float:
        """Real seconds after the replay starts at which to send this event (time / speed)."""
        return (event.at - self.start).total_seconds() / self.speed

    def __iter__(self) -> Iterator[SimEvent]:
        return self.events()

    def events(self) -> Iterator[SimEvent]:
        """The scenario's events in time order; every call starts afresh from the seed."""
        book = _FaultBook(self.inventory, self.seed, self._windows)
        streams: list[Iterator[Line] | Iterator[Sample]] = [
            *background_lines(self.inventory, self.seed, self.start, self.end),
            *telemetry_samples(self.seed, self.start, self.end),
            book.lines(),
        ]
        sequence: Counter[str] = Counter()
        end = self.end
        for item in heapq.merge(*streams, key=attrgetter("at")):
            if item.at >= end:
                # What is left are the tails of exchanges begun before the end (a logout).
                return
            active = book.active(item.at)
            if isinstance(item, Line):
                if item.fault is None and active is not None and _mutes(active, item):
                    continue
                sequence[item.device_id] += 1
                wire = item.render(sequence[item.device_id])
                yield SimEvent(item.at, "syslog", item.device_id, wire, item.fault)
            else:
                event = self._metric_event(item, active)
                if event is not None:
                    yield event

    def _metric_event(self, sample: Sample, active: tuple[str, Effect] | None) -> SimEvent | None:
        value: float | None = sample.value
        fault = None
        rule = active[1].metrics.get((sample.device_id, sample.metric)) if active else None
        if active is not None and rule is not None:
            fault, window = active[0], active[1].window
            value = rule(window.fraction(sample.at), sample.value)
        if value is None:
            return None
        payload = {
            "ship_id": self.ship_id,
            "device_id": sample.device_id,
            "metric": sample.metric,
            "value": value,
            "unit": METRIC_UNITS[sample.metric],
            "timestamp": sample.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "labels": dict(sample.labels),
        }
        return SimEvent(sample.at, "metric", sample.device_id, payload, fault)


def _mutes(active: tuple[str, Effect], line: Line) -> bool:
    mutes = active[1].mutes
    return (line.device_id, line.stream) in mutes or (line.device_id, "*") in mutes


class _FaultBook:
    """Builds each fault's lines and effect only when the replay gets to it, so a scenario that
    runs for a week (a demo left on) holds one or two faults in memory, not a thousand.

    Windows never overlap, so at most one fault bends the background at any instant.
    """

    def __init__(
        self, inventory: Inventory, seed: int, windows: tuple[tuple[str, Window], ...]
    ) -> None:
        self._inventory, self._seed, self._windows = inventory, seed, windows
        self._starts = [window.start for _, window in windows]
        self._plans: dict[int, FaultPlan] = {}

    def lines(self) -> Iterator[Line]:
        for index in range(len(self._windows)):
            yield from self._plan(index).lines

    def active(self, at: datetime) -> tuple[str, Effect] | None:
        index = bisect.bisect_right(self._starts, at) - 1
        if index < 0 or not self._windows[index][1].contains(at):
            return None
        return self._windows[index][0], self._plan(index).effect

    def _plan(self, index: int) -> FaultPlan:
        if index not in self._plans:
            name, window = self._windows[index]
            self._plans[index] = FAULTS[name].plan(self._inventory, self._seed, window)
            # The merge reads one fault ahead, so keep the previous plan; older ones are done.
            for done in [i for i in self._plans if i < index - 1]:
                del self._plans[done]
        return self._plans[index]


def build_scenario(
    name: str,
    *,
    start: datetime,
    duration_s: float,
    seed: int = 7,
    speed: float = 1.0,
) -> Scenario:
    """A named scenario on the demo ship, from `start` (timezone-aware) for `duration_s` seconds.

    `speed` only paces a replay (speed=60: one simulated minute per real second); event
    timestamps stay in simulated time.
    """
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {sorted(SCENARIOS)}")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if duration_s <= 0 or speed <= 0:
        raise ValueError("duration_s and speed must be positive")
    start = start.astimezone(UTC)
    inventory = load_inventory(DEMO_INVENTORY_PATH)
    windows = _fault_windows(name, start, float(duration_s), seed)
    faults = tuple(FAULTS[fault].label(window) for fault, window in windows)
    return Scenario(
        name=name,
        description=SCENARIOS[name],
        start=start,
        duration_s=float(duration_s),
        seed=seed,
        speed=float(speed),
        inventory=inventory,
        faults=faults,
        _windows=windows,
    )


def _fault_windows(
    name: str, start: datetime, duration_s: float, seed: int
) -> tuple[tuple[str, Window], ...]:
    """Where each fault sits, in time order, after a quiet lead-in in which detectors learn
    the baseline."""
    if name == "background":
        return ()
    if name != "mixed":
        length = min(FAULTS[name].natural_s, 0.6 * duration_s)
        _require(length, name, duration_s)
        begin = start + seconds(min(0.25 * duration_s, SINGLE_LEAD_IN_S))
        return ((name, Window(begin, begin + seconds(length))),)

    # A long run (a demo left on) repeats the cycle, so every fault comes back each hour.
    cycle = min(duration_s, MIXED_CYCLE_S)
    lead_in = min(MIXED_LEAD_IN_S, 0.1 * cycle)
    slot = 0.9 * (cycle - lead_in) / len(FAULTS)
    windows = []
    for number in range(int(duration_s // cycle)):
        order = sorted(FAULTS)
        random.Random(f"{seed}:mixed:{number}").shuffle(order)
        for index, fault in enumerate(order):
            length = min(FAULTS[fault].natural_s, 0.8 * slot)
            _require(length, name, duration_s)
            offset = number * cycle + lead_in + index * slot
            begin = start + seconds(offset)
            windows.append((fault, Window(begin, begin + seconds(length))))
    return tuple(windows)


def _require(length: float, name: str, duration_s: float) -> None:
    if length < MIN_FAULT_WINDOW_S:
        raise ValueError(
            f"scenario {name!r} needs a longer duration than {duration_s:.0f} s: its fault windows "
            f"would be {length:.0f} s, under the {MIN_FAULT_WINDOW_S:.0f} s minimum"
        )
