"""Log detectors: policy patterns, syslog severity, new and rare templates, per-template rate spikes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from aiops_core.models import IncidentType, LogLevel
from aiops_core.policy import (
    IgnorePattern,
    log_level_at_least,
    LogPattern,
    NewTemplateDetector as NewTemplatePolicy,
    RareTemplateDetector as RareTemplatePolicy,
    RateSpikeDetector as RateSpikePolicy,
    SyslogSeverityMap,
)
from services.anomaly_detection.detectors import (
    LOG_PATTERN,
    NEW_TEMPLATE,
    RARE_TEMPLATE,
    RATE_SPIKE,
    REPEAT_SECONDS,
    RULE,
    SEVERITY,
    SEVERITY_SCORE,
    STATISTICAL,
    SYSLOG_SEVERITY,
    Bounded,
    Verdict,
    excess_score,
    optional_float,
    restore_columns,
    snapshot_columns,
)
from services.anomaly_detection.detectors.regexset import RegexSet
from services.anomaly_detection.templates import Mined

HOUR = 3600.0


def _levels_at_least(enabled: bool, minimum: LogLevel) -> frozenset[LogLevel]:
    """The levels a detector reports on, worked out once: a set lookup per line, not a list scan."""
    return frozenset(level for level in LogLevel if enabled and log_level_at_least(level, minimum))
# Empty buckets folded into a rate baseline one by one; beyond this many the baseline has decayed
# to nothing anyway (0.9 ** 200 is about 1e-9 at the default alpha).
MAX_EMPTY_BUCKETS_FOLDED = 200


class PatternDetector:
    """The policy's log patterns, tried in file order (the first match wins), and its ignore list."""

    def __init__(self, patterns: Sequence[LogPattern], ignore: Sequence[IgnorePattern]) -> None:
        self.patterns = tuple(patterns)
        self.ignore = tuple(ignore)
        # The compiled regexes, held here: reading them off the frozen policy models is slow.
        self._patterns = [(rule, rule.pattern) for rule in self.patterns]
        self._ignore = [(rule.name, rule.pattern) for rule in self.ignore]
        self._pattern_gate = RegexSet(p.regex for p in self.patterns)
        self._ignore_gate = RegexSet(p.regex for p in self.ignore)

    def ignored_by(self, message: str) -> str | None:
        """The name of the ignore pattern the line matches, if any."""
        for index in self._ignore_gate.candidates(message):
            name, pattern = self._ignore[index]
            if pattern.search(message):
                return name
        return None

    def detect(self, message: str) -> Verdict | None:
        for index in self._pattern_gate.candidates(message):
            rule, pattern = self._patterns[index]
            match = pattern.search(message)
            if match:
                return Verdict(
                    LOG_PATTERN, rule.incident_type, rule.severity, rule.score, RULE,
                    {"pattern": rule.name, "matched": match.group(0)[:256]},
                )
        return None


class SeverityDetector:
    """A line whose own syslog level the policy maps to an anomaly severity."""

    def __init__(self, mapping: SyslogSeverityMap) -> None:
        self.mapping = mapping

    def detect(self, level: LogLevel) -> Verdict | None:
        severity = self.mapping.severity_for(level)
        if severity is None:
            return None
        return Verdict(
            SYSLOG_SEVERITY, IncidentType.UNKNOWN, severity, SEVERITY_SCORE[severity], SEVERITY,
            {"level": LogLevel(level).value},
        )


class NewTemplateDetector:
    """A template never seen before, once the miner has warmed up, on a line severe enough."""

    def __init__(self, policy: NewTemplatePolicy) -> None:
        self.policy = policy
        self.levels = _levels_at_least(policy.enabled, policy.min_level)

    def detect(self, mined: Mined, lines_seen: int, level: LogLevel) -> Verdict | None:
        p = self.policy
        if not mined.is_new or lines_seen <= p.warmup_lines or level not in self.levels:
            return None
        return Verdict(
            NEW_TEMPLATE, p.incident_type, p.severity, SEVERITY_SCORE[p.severity], STATISTICAL,
            {"lines_seen": lines_seen, "warmup_lines": p.warmup_lines},
        )


class RareTemplateDetector:
    """An established template seen at most `max_count_per_hour` times in the last hour.

    Per template it keeps when it was first seen and its last few sightings (one more than the
    rare limit is all it takes to tell)."""

    def __init__(self, policy: RareTemplatePolicy, capacity: int) -> None:
        self.policy = policy
        self.levels = _levels_at_least(policy.enabled, policy.min_level)
        self.templates: Bounded[str, list[Any]] = Bounded(capacity)

    def observe(self, mined: Mined, at: float, level: LogLevel) -> Verdict | None:
        p = self.policy
        first_seen, sightings = self.templates.get_or_create(mined.template_id, lambda: [at, []])
        sightings.append(at)
        del sightings[: -(p.max_count_per_hour + 1)]
        if mined.is_new or level not in self.levels:
            return None
        age = at - first_seen
        last_hour = sum(1 for seen in sightings if at - seen <= HOUR)
        if age < p.min_age_seconds or last_hour > p.max_count_per_hour:
            return None
        return Verdict(
            RARE_TEMPLATE, p.incident_type, p.severity, SEVERITY_SCORE[p.severity], STATISTICAL,
            {"template_age_seconds": round(age, 1), "seen_last_hour": last_hour,
             "max_count_per_hour": p.max_count_per_hour},
        )

    def snapshot(self) -> dict[str, list[Any]]:
        entries = self.templates.items
        return {
            "template_id": list(entries),
            "first_seen": [first for first, _ in entries.values()],
            "sighting_counts": [len(sightings) for _, sightings in entries.values()],
            "sightings": [seen for _, sightings in entries.values() for seen in sightings],
        }

    def restore(self, data: dict[str, list[Any]]) -> None:
        flat = [float(seen) for seen in data["sightings"]]
        start = 0
        for template_id, first, count in zip(data["template_id"], data["first_seen"], data["sighting_counts"], strict=True):
            end = start + int(count)
            if end > len(flat):
                raise ValueError("rare-template snapshot: the sightings do not add up")
            restored = [float(first), flat[start:end]]
            self.templates.get_or_create(str(template_id), lambda: restored)
            start = end


class _Rate:
    """One (ship, device, template)'s line count in the current bucket and its EWMA baseline."""

    __slots__ = ("bucket", "count", "mean", "var", "seen", "armed", "last_fired")

    def __init__(self, bucket: int) -> None:
        self.bucket = bucket
        self.count = 0
        self.mean = 0.0
        self.var = 0.0
        self.seen = 0
        self.armed = True
        self.last_fired: float | None = None



_RATE_FIELDS = {
    "bucket": int, "count": int, "mean": float, "var": float, "seen": int, "armed": bool, "last_fired": optional_float,
}


class RateSpikeDetector:
    """Lines per bucket for each (ship, device, template) against an EWMA mean and variance.

    A bucket spikes when its count reaches `min_count` and exceeds mean + sigma * stddev, judged
    as lines arrive so the spike is reported while it happens. The stddev is at least the
    square root of the mean: line counts vary at least as much as random arrivals do. A spike is
    reported when it starts and again every REPEAT_SECONDS while it lasts; a bucket that closes
    below the cut-off ends it."""

    def __init__(self, policy: RateSpikePolicy, capacity: int) -> None:
        self.policy = policy
        self.rates: Bounded[tuple[str, str, str], _Rate] = Bounded(capacity)

    def observe(self, key: tuple[str, str, str], at: float) -> Verdict | None:
        p = self.policy
        if not p.enabled:
            return None
        bucket = int(at // p.bucket_seconds)
        rate = self.rates.get_or_create(key, lambda: _Rate(bucket))
        if bucket > rate.bucket:
            self._close(rate, bucket)
        # A late line (bucket in the past) counts in the current bucket.
        rate.count += 1
        if rate.count < p.min_count or rate.seen < p.warmup_buckets:
            return None
        z = self._z(rate, rate.count)
        if z <= p.sigma:
            return None
        if not rate.armed and (rate.last_fired is None or at - rate.last_fired < REPEAT_SECONDS):
            return None
        rate.armed, rate.last_fired = False, at
        return Verdict(
            RATE_SPIKE, p.incident_type, p.severity, excess_score(z, p.sigma), STATISTICAL,
            {"count": rate.count, "bucket_seconds": p.bucket_seconds, "baseline": round(rate.mean, 3),
             "stddev": round(self._std(rate), 3), "z_score": round(z, 2), "sigma": p.sigma},
        )

    def _std(self, rate: _Rate) -> float:
        return max(math.sqrt(rate.var), math.sqrt(max(rate.mean, 1.0)))

    def _z(self, rate: _Rate, count: int) -> float:
        return (count - rate.mean) / self._std(rate)

    def _close(self, rate: _Rate, new_bucket: int) -> None:
        """Folds the finished bucket and the empty ones since into the baseline."""
        p = self.policy
        if rate.count < p.min_count or self._z(rate, rate.count) <= p.sigma:
            rate.armed = True
        self._fold(rate, rate.count)
        empty = new_bucket - rate.bucket - 1
        for _ in range(min(empty, MAX_EMPTY_BUCKETS_FOLDED)):
            self._fold(rate, 0)
        if empty > 0:
            rate.armed = True
        rate.seen += new_bucket - rate.bucket
        rate.bucket, rate.count = new_bucket, 0

    def _fold(self, rate: _Rate, count: int) -> None:
        alpha = self.policy.ewma_alpha
        if rate.seen == 0 and rate.mean == 0.0:
            rate.mean = float(count)
            return
        diff = count - rate.mean
        increment = alpha * diff
        rate.mean += increment
        rate.var = (1 - alpha) * (rate.var + diff * increment)

    def snapshot(self) -> dict[str, list[Any]]:
        return snapshot_columns(self.rates.items, _RATE_FIELDS)

    def restore(self, data: dict[str, list[Any]]) -> None:
        for key, rate in restore_columns(data, _RATE_FIELDS, lambda: _Rate(0)):
            self.rates.get_or_create(key, lambda: rate)
