"""Detectors: small classes that each look at one signal and may return a `Verdict`.

They hold their own baselines (bounded, least recently used forgotten first), take time as a
number of seconds from the input (never the wall clock) and can snapshot and restore their state
as JSON-able data. `strongest` picks the verdict one input is reported with.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Hashable, TypeVar

from aiops_core.models import IncidentType, Severity

# Detector names, as they appear in AnomalyDetected.detector and the anomalies metric.
LOG_PATTERN = "log_pattern"
SYSLOG_SEVERITY = "syslog_severity"
NEW_TEMPLATE = "new_template"
RARE_TEMPLATE = "rare_template"
RATE_SPIKE = "rate_spike"
METRIC_THRESHOLD = "metric_threshold"
EWMA = "ewma"
MAD = "mad"

# Verdict classes, strongest first: an operator's explicit rule beats the device's own severity,
# which beats a statistical hunch.
RULE, SEVERITY, STATISTICAL = 0, 1, 2

# While a condition lasts (a breach, a rate spike) it is reported when it starts and again at
# this interval: the incident's timeline shows it is still going without an anomaly per sample.
# Shorter than every correlation window, so an ongoing condition keeps its incident open.
REPEAT_SECONDS = 300.0

# Score of a verdict whose only measure is its severity.
SEVERITY_SCORE = {Severity.LOW: 0.4, Severity.MEDIUM: 0.6, Severity.HIGH: 0.8, Severity.CRITICAL: 0.95}


@dataclass(frozen=True, slots=True)
class Verdict:
    detector: str
    incident_type: IncidentType
    severity: Severity
    score: float
    kind: int
    evidence: dict[str, Any] = field(default_factory=dict)


def strongest(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The verdict to report: the strongest class, then the highest severity, then the score."""
    return min(verdicts, key=lambda v: (v.kind, -v.severity.rank, -v.score), default=None)


def excess_score(z: float, cut: float) -> float:
    """0.5 at the cut-off, rising towards 1 as the deviation grows."""
    z = abs(z)
    return round(min(1.0, z / (z + cut)), 4)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """A dict that forgets its least recently used entries beyond `capacity`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        value = self.items.get(key)
        if value is None:
            value = self.items[key] = create()
            if len(self.items) > self.capacity:
                self.items.popitem(last=False)
        else:
            self.items.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self.items)


# Snapshots are columns (one list per field) rather than a list per baseline: 100,000 small
# lists built at once wake the garbage collector's full passes and stall the event loop.
KEY_FIELDS = ("ship_id", "device_id", "name")


def optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def snapshot_columns(entries: Mapping[tuple[str, str, str], Any], fields: Mapping[str, Callable[[Any], Any]]) -> dict[str, list[Any]]:
    """A bounded map of (ship, device, name) to state objects as one list per key part and field."""
    keys = list(entries)
    states = list(entries.values())
    columns: dict[str, list[Any]] = {part: [key[i] for key in keys] for i, part in enumerate(KEY_FIELDS)}
    columns.update({name: [getattr(state, name) for state in states] for name in fields})
    return columns


def restore_columns(
    data: Mapping[str, Sequence[Any]], fields: Mapping[str, Callable[[Any], Any]], create: Callable[[], Any]
) -> Iterator[tuple[tuple[str, str, str], Any]]:
    """The (key, state) pairs of `snapshot_columns` data, every value converted to its field's type."""
    names = [*KEY_FIELDS, *fields]
    converters = [str, str, str, *fields.values()]
    for row in zip(*(data[name] for name in names), strict=True):
        ship_id, device_id, name, *values = (convert(value) for convert, value in zip(converters, row))
        state = create()
        for field_name, value in zip(fields, values):
            setattr(state, field_name, value)
        yield (ship_id, device_id, name), state


__all__ = [
    "EWMA",
    "KEY_FIELDS",
    "LOG_PATTERN",
    "MAD",
    "METRIC_THRESHOLD",
    "NEW_TEMPLATE",
    "RARE_TEMPLATE",
    "RATE_SPIKE",
    "REPEAT_SECONDS",
    "RULE",
    "SEVERITY",
    "SEVERITY_SCORE",
    "STATISTICAL",
    "SYSLOG_SEVERITY",
    "Bounded",
    "Verdict",
    "excess_score",
    "optional_float",
    "restore_columns",
    "snapshot_columns",
    "strongest",
]
