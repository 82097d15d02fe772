"""Detectors: small classes that each look at one signal and may return a `Verdict`.

They hold their own baselines (bounded, least recently used forgotten first), take time as a
number of seconds from the input (never the wall clock) and can snapshot and restore their state
as JSON-able data. `strongest` picks the verdict one input is reported with.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
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


__all__ = [
    "EWMA",
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
    "strongest",
]
