"""Anomaly detection logic, free of I/O: a LogEntry or MetricSample in, at most one AnomalyDetected out.

Every detector sees every input (so baselines learn from everything); when several fire, the
input is reported once, with the strongest verdict (pattern beats severity beats new, rare and
rate spike; a threshold beats EWMA and MAD) and every detector that fired listed in
`evidence["detectors"]`. The anomaly_id is uuid5 of tracking_id and detector, and the result of a
recently seen tracking_id is returned again unchanged, so a redelivered input yields the same
message and learns nothing twice.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiops_core import metrics
from aiops_core.models import AnomalyDetected, LogEntry, MetricSample, utc_now
from aiops_core.policy import DetectPolicy
from services.anomaly_detection.detectors import Verdict, strongest
from services.anomaly_detection.detectors.logs import (
    NewTemplateDetector,
    PatternDetector,
    RareTemplateDetector,
    RateSpikeDetector,
    SeverityDetector,
)
from services.anomaly_detection.detectors.metrics import EwmaDetector, MadDetector, ThresholdDetector
from services.anomaly_detection.templates import TemplateMiner

STAGE = "anomaly-detection"
SERVICE = "anomaly-detection"

# Fixed forever: anomaly ids of already published anomalies derive from it.
ANOMALY_NAMESPACE = uuid.UUID("6f1c9a2e-3d4b-5c8e-9a7f-0b1d2e3f4a5b")

BASELINES_VERSION = 1
# Results remembered for redeliveries: far more than the bus has in flight (max_ack_pending).
RECENT_RESULTS = 50_000
# Per-(ship, device, template) rate baselines and per-(ship, device, metric) baselines kept.
RATE_KEYS = 100_000
METRIC_KEYS = 50_000

Clock = Callable[[], datetime]
DeviceKindOf = Callable[[str, str], str | None]


def anomaly_id_for(tracking_id: str, detector: str) -> str:
    """The same input judged by the same detector always gives the same anomaly id."""
    return str(uuid.uuid5(ANOMALY_NAMESPACE, f"{tracking_id}:{detector}"))


class RecentResults:
    """The last results by tracking_id (None included), so a redelivery repeats its first answer."""

    def __init__(self, capacity: int = RECENT_RESULTS) -> None:
        self.capacity = capacity
        self._results: OrderedDict[str, AnomalyDetected | None] = OrderedDict()

    def lookup(self, tracking_id: str) -> tuple[bool, AnomalyDetected | None]:
        if tracking_id in self._results:
            return True, self._results[tracking_id]
        return False, None

    def remember(self, tracking_id: str, result: AnomalyDetected | None) -> None:
        self._results[tracking_id] = result
        if len(self._results) > self.capacity:
            self._results.popitem(last=False)


def _evidence(winner: Verdict, verdicts: list[Verdict], **extra: Any) -> dict[str, Any]:
    """The winner's evidence, the input's context, every detector that fired and what the others saw."""
    evidence: dict[str, Any] = {**winner.evidence, **extra, "detectors": list(dict.fromkeys(v.detector for v in verdicts))}
    others = [{"detector": v.detector, **v.evidence} for v in verdicts if v is not winner]
    if others:
        evidence["also"] = others
    return evidence


class LogAnalyzer:
    """Mines each line's template and runs the log detectors over it."""

    def __init__(self, policy: DetectPolicy, *, miner: TemplateMiner | None = None, clock: Clock = utc_now) -> None:
        self.miner = miner or TemplateMiner.from_policy(policy.template)
        self.clock = clock
        self.patterns = PatternDetector(policy.log_patterns, policy.ignore_patterns)
        self.severity = SeverityDetector(policy.syslog_severity)
        self.new_template = NewTemplateDetector(policy.new_template)
        self.rare_template = RareTemplateDetector(policy.rare_template, capacity=policy.template.max_clusters)
        self.rate_spike = RateSpikeDetector(policy.rate_spike, capacity=RATE_KEYS)
        self.recent = RecentResults()

    def analyze(self, entry: LogEntry) -> AnomalyDetected | None:
        seen, result = self.recent.lookup(entry.tracking_id)
        if seen:
            return result
        started = self.clock()
        # The ingest clock, not the device's: ship gear clocks drift, and some were never set.
        at = entry.ingestion_timestamp.timestamp()
        message = entry.message
        mined = self.miner.add(message)
        candidates = (
            self.patterns.detect(message),
            self.severity.detect(entry.level),
            self.new_template.detect(mined, self.miner.lines, entry.level),
            self.rare_template.observe(mined, at, entry.level),
            self.rate_spike.observe((entry.ship_id, entry.device_id, mined.template_id), at),
        )
        verdicts = [v for v in candidates if v is not None]
        winner = strongest(verdicts)
        result = None
        if winner is not None and self.patterns.ignored_by(message) is None:
            detected_at = self.clock()
            result = AnomalyDetected(
                tracking_id=entry.tracking_id,
                ship_id=entry.ship_id,
                trace=entry.trace,
                anomaly_id=anomaly_id_for(entry.tracking_id, winner.detector),
                device_id=entry.device_id,
                service=entry.service,
                detector=winner.detector,
                incident_type=winner.incident_type,
                severity=winner.severity,
                score=winner.score,
                template=mined.template[:16384],
                template_id=mined.template_id,
                message=message,
                evidence=_evidence(winner, verdicts, level=entry.level.value, template_count=mined.count),
                detected_at=detected_at,
                ingestion_timestamp=entry.ingestion_timestamp,
                event_timestamp=entry.timestamp,
            ).stamped(STAGE, SERVICE, started, self.clock())
            metrics.ANOMALIES.labels(winner.detector).inc()
        self.recent.remember(entry.tracking_id, result)
        return result

    def snapshot(self) -> dict[str, Any]:
        """The detectors' baselines (the miner snapshots itself)."""
        return {
            "version": BASELINES_VERSION,
            "rare_template": self.rare_template.snapshot(),
            "rate_spike": self.rate_spike.snapshot(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        _check_version(data)
        self.rare_template.restore(data.get("rare_template", []))
        self.rate_spike.restore(data.get("rate_spike", []))


class MetricAnalyzer:
    """Runs the threshold, EWMA and MAD detectors over each sample."""

    def __init__(self, policy: DetectPolicy, *, device_kind: DeviceKindOf, clock: Clock = utc_now) -> None:
        self.device_kind = device_kind
        self.clock = clock
        self.thresholds = ThresholdDetector(policy.metric_thresholds, capacity=METRIC_KEYS)
        self.ewma = EwmaDetector(policy.ewma, policy.metric_incident_types, capacity=METRIC_KEYS)
        self.mad = MadDetector(policy.mad, policy.metric_incident_types, capacity=METRIC_KEYS)
        self.recent = RecentResults()

    def analyze(self, sample: MetricSample) -> AnomalyDetected | None:
        seen, result = self.recent.lookup(sample.tracking_id)
        if seen:
            return result
        started = self.clock()
        at = sample.timestamp.timestamp()
        kind = self.device_kind(sample.ship_id, sample.device_id)
        key = (sample.ship_id, sample.device_id, sample.metric)
        verdicts = self.thresholds.observe(*key, sample.value, at, kind)
        for verdict in (self.ewma.observe(key, sample.value, at), self.mad.observe(key, sample.value, at)):
            if verdict is not None:
                verdicts.append(verdict)
        result = None
        winner = strongest(verdicts)
        if winner is not None:
            result = AnomalyDetected(
                tracking_id=sample.tracking_id,
                ship_id=sample.ship_id,
                trace=sample.trace,
                anomaly_id=anomaly_id_for(sample.tracking_id, winner.detector),
                device_id=sample.device_id,
                service="telemetry",
                detector=winner.detector,
                incident_type=winner.incident_type,
                severity=winner.severity,
                score=winner.score,
                metric=sample.metric,
                value=sample.value,
                message=_metric_message(sample, winner),
                evidence=_evidence(winner, verdicts, unit=sample.unit, device_kind=kind),
                detected_at=self.clock(),
                ingestion_timestamp=sample.ingestion_timestamp,
                event_timestamp=sample.timestamp,
            ).stamped(STAGE, SERVICE, started, self.clock())
            metrics.ANOMALIES.labels(winner.detector).inc()
        self.recent.remember(sample.tracking_id, result)
        return result

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": BASELINES_VERSION,
            "metric_threshold": self.thresholds.snapshot(),
            "ewma": self.ewma.snapshot(),
            "mad": self.mad.snapshot(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        _check_version(data)
        self.thresholds.restore(data.get("metric_threshold", []))
        self.ewma.restore(data.get("ewma", []))
        self.mad.restore(data.get("mad", []))


def _check_version(data: Any) -> None:
    if not isinstance(data, dict) or data.get("version") != BASELINES_VERSION:
        raise ValueError("not a detector-baselines snapshot of a known version")


def _metric_message(sample: MetricSample, verdict: Verdict) -> str:
    value = f"{sample.metric} {sample.value:g}{(' ' + sample.unit) if sample.unit else ''} on {sample.device_id}"
    e = verdict.evidence
    if "rule" in e:
        return f"{value}: {e['rule']} for {e['held_seconds']:g} s"
    if "z_score" in e:
        return f"{value}: {e['z_score']:+g} sigma from its baseline {e['baseline']:g} for {e['held_seconds']:g} s"
    return f"{value}: modified z-score {e['modified_z']:+g} against the median {e['median']:g} for {e['held_seconds']:g} s"
