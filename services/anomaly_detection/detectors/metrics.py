"""Metric detectors: thresholds with hold time, EWMA at n sigma, median/MAD modified z-score.

Every detector reports a condition as an episode: it must hold continuously (by the samples' own
timestamps) for a hold time, is reported when that is reached and again every REPEAT_SECONDS
while it lasts, and re-arms once a sample is back to normal. A 10-minute rain fade sampled every
10 s is two or three anomalies on one timeline, not sixty; a Starlink reconfiguration blip
(one bad sample, gone within its 15-second slot) is none.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from aiops_core.models import IncidentType
from aiops_core.policy import EwmaDetector as EwmaPolicy
from aiops_core.policy import MadDetector as MadPolicy
from aiops_core.policy import MetricThreshold
from services.anomaly_detection.detectors import (
    EWMA,
    MAD,
    METRIC_THRESHOLD,
    REPEAT_SECONDS,
    RULE,
    SEVERITY_SCORE,
    STATISTICAL,
    Bounded,
    Verdict,
    excess_score,
    optional_float,
    restore_columns,
    snapshot_columns,
)

# EWMA and MAD have no hold time in the policy; a statistical deviation must still outlast one
# Starlink reconfiguration slot (15 s) so a single outlying sample is never an anomaly.
STATISTICAL_HOLD_SECONDS = 20.0
# Samples further apart than this do not show that a condition held in between.
STALE_SECONDS = 600.0
# A flat series has no spread; deviations are measured against at least this share of its level.
RELATIVE_SPREAD_FLOOR = 1e-3
ABSOLUTE_SPREAD_FLOOR = 1e-9
# Consistency constants of the modified z-score (Iglewicz and Hoaglin): MAD, else mean |deviation|.
MAD_CONSISTENCY = 0.6745
MEAN_AD_CONSISTENCY = 1.253314

MetricKey = tuple[str, str, str]


class Episode:
    """When a condition started, the last sample seen and when it was last reported."""

    __slots__ = ("started", "last_sample", "last_reported")

    def __init__(self) -> None:
        self.started: float | None = None
        self.last_sample: float | None = None
        self.last_reported: float | None = None

    def step(self, at: float, breached: bool, hold_seconds: float) -> float | None:
        """Feeds one sample; returns how long the condition has held when it is to be reported."""
        if self.last_sample is not None and at < self.last_sample:
            return None  # a late sample says nothing about the condition now
        stale = self.last_sample is not None and at - self.last_sample > STALE_SECONDS
        self.last_sample = at
        if not breached:
            self.started = self.last_reported = None
            return None
        if self.started is None or stale:
            self.started, self.last_reported = at, None
        held = at - self.started
        if held < hold_seconds:
            return None
        if self.last_reported is not None and at - self.last_reported < REPEAT_SECONDS:
            return None
        self.last_reported = at
        return held


_EPISODE_FIELDS = {"started": optional_float, "last_sample": optional_float, "last_reported": optional_float}


def _rule_key(rule: MetricThreshold) -> str:
    """Identifies a rule by its content, so saved episodes survive a reordered policy file."""
    kinds = ",".join(rule.device_kinds) if rule.device_kinds is not None else "*"
    return f"{rule.metric}:{rule.op}:{rule.value!r}:{rule.hold_seconds}:{kinds}"


class ThresholdDetector:
    """Every policy threshold on the sample's metric that applies to the device's kind."""

    def __init__(self, rules: Sequence[MetricThreshold], capacity: int) -> None:
        self.by_metric: dict[str, list[tuple[str, MetricThreshold]]] = {}
        for rule in rules:
            self.by_metric.setdefault(rule.metric, []).append((_rule_key(rule), rule))
        self.episodes: Bounded[tuple[str, str, str], Episode] = Bounded(capacity)

    def observe(self, ship_id: str, device_id: str, metric: str, value: float, at: float,
                device_kind: str | None) -> list[Verdict]:
        verdicts = []
        for key, rule in self.by_metric.get(metric, ()):
            if not rule.applies_to(metric, device_kind):
                continue
            breached = rule.breached_by(value)
            state_key = (ship_id, device_id, key)
            episode = self.episodes.get_or_create(state_key, Episode) if breached else self.episodes.get(state_key)
            if episode is None:
                continue
            held = episode.step(at, breached, rule.hold_seconds)
            if held is None:
                continue
            verdicts.append(Verdict(
                METRIC_THRESHOLD, rule.incident_type, rule.severity, SEVERITY_SCORE[rule.severity], RULE,
                {"rule": f"{rule.metric} {'<' if rule.op == 'lt' else '>'} {rule.value:g}", "op": rule.op,
                 "threshold": rule.value, "hold_seconds": rule.hold_seconds, "held_seconds": round(held, 1)},
            ))
        return verdicts

    def snapshot(self) -> dict[str, list[Any]]:
        return snapshot_columns(self.episodes.items, _EPISODE_FIELDS)

    def restore(self, data: dict[str, list[Any]]) -> None:
        for key, episode in restore_columns(data, _EPISODE_FIELDS, Episode):
            self.episodes.get_or_create(key, lambda: episode)


def _spread_floor(level: float) -> float:
    return max(abs(level) * RELATIVE_SPREAD_FLOOR, ABSOLUTE_SPREAD_FLOOR)


class _Ewma(Episode):
    """An EWMA baseline and the episode of deviations from it."""

    __slots__ = ("n", "mean", "var")

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.mean = 0.0
        self.var = 0.0


_EWMA_FIELDS = {"n": int, "mean": float, "var": float, **_EPISODE_FIELDS}


class EwmaDetector:
    """Deviation from an exponentially weighted mean by more than `sigma` weighted stddevs.

    Samples are folded in clipped to the band (a winsorised EWMA), so one outlier cannot blow up
    the variance and hide a lasting shift, while a new normal is still learnt over time."""

    def __init__(self, policy: EwmaPolicy, incident_types: Mapping[str, IncidentType], capacity: int) -> None:
        self.policy = policy
        self.metrics = frozenset(policy.metrics)
        self.incident_types = incident_types
        self.states: Bounded[MetricKey, _Ewma] = Bounded(capacity)

    def observe(self, key: MetricKey, value: float, at: float) -> Verdict | None:
        metric = key[2]
        if metric not in self.metrics:
            return None
        p = self.policy
        state = self.states.get_or_create(key, _Ewma)
        verdict = None
        folded = value
        if state.n >= p.min_samples:
            std = max(math.sqrt(state.var), _spread_floor(state.mean))
            z = (value - state.mean) / std
            held = state.step(at, abs(z) > p.sigma, STATISTICAL_HOLD_SECONDS)
            if held is not None:
                verdict = Verdict(
                    EWMA, self.incident_types.get(metric, IncidentType.UNKNOWN), p.severity,
                    excess_score(z, p.sigma), STATISTICAL,
                    {"baseline": state.mean, "stddev": std, "z_score": round(z, 2), "sigma": p.sigma,
                     "held_seconds": round(held, 1), "samples": state.n},
                )
            folded = min(max(value, state.mean - p.sigma * std), state.mean + p.sigma * std)
        self._fold(state, folded)
        return verdict

    def _fold(self, state: _Ewma, value: float) -> None:
        state.n += 1
        if state.n == 1:
            state.mean = value
            return
        alpha = self.policy.alpha
        diff = value - state.mean
        increment = alpha * diff
        state.mean += increment
        state.var = (1 - alpha) * (state.var + diff * increment)

    def snapshot(self) -> dict[str, list[Any]]:
        return snapshot_columns(self.states.items, _EWMA_FIELDS)

    def restore(self, data: dict[str, list[Any]]) -> None:
        for key, state in restore_columns(data, _EWMA_FIELDS, _Ewma):
            self.states.get_or_create(key, lambda: state)


class _Window(Episode):
    """The last samples and the episode of deviations from their median."""

    __slots__ = ("values",)

    def __init__(self, size: int | None = None) -> None:
        super().__init__()
        self.values: deque[float] = deque(maxlen=size)


class MadDetector:
    """Modified z-score against the rolling median and MAD of the last `window` samples."""

    def __init__(self, policy: MadPolicy, incident_types: Mapping[str, IncidentType], capacity: int) -> None:
        self.policy = policy
        self.metrics = frozenset(policy.metrics)
        self.incident_types = incident_types
        self.states: Bounded[MetricKey, _Window] = Bounded(capacity)
        window = policy.window
        self._restored_fields = {"values": lambda values: deque(map(float, values), maxlen=window), **_EPISODE_FIELDS}

    def _new_window(self) -> _Window:
        return _Window(self.policy.window)

    def observe(self, key: MetricKey, value: float, at: float) -> Verdict | None:
        metric = key[2]
        if metric not in self.metrics:
            return None
        p = self.policy
        state = self.states.get_or_create(key, self._new_window)
        verdict = None
        if len(state.values) >= p.min_samples:
            median = statistics.median(state.values)
            deviations = [abs(v - median) for v in state.values]
            mad = statistics.median(deviations)
            scale = mad / MAD_CONSISTENCY if mad > 0 else MEAN_AD_CONSISTENCY * statistics.fmean(deviations)
            scale = max(scale, _spread_floor(median))
            z = (value - median) / scale
            held = state.step(at, abs(z) > p.threshold, STATISTICAL_HOLD_SECONDS)
            if held is not None:
                verdict = Verdict(
                    MAD, self.incident_types.get(metric, IncidentType.UNKNOWN), p.severity,
                    excess_score(z, p.threshold), STATISTICAL,
                    {"median": median, "mad": mad, "modified_z": round(z, 2), "threshold": p.threshold,
                     "held_seconds": round(held, 1), "window": len(state.values)},
                )
        state.values.append(value)
        return verdict

    def snapshot(self) -> dict[str, list[Any]]:
        columns = snapshot_columns(self.states.items, _EPISODE_FIELDS)
        columns["values"] = [list(state.values) for state in self.states.items.values()]
        return columns

    def restore(self, data: dict[str, list[Any]]) -> None:
        for key, state in restore_columns(data, self._restored_fields, _Window):
            self.states.get_or_create(key, lambda: state)
