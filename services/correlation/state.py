"""Correlation's working state: the incidents it can still change, and the counters behind storm
and flapping control. Kept in memory, serialised per incident (and one `meta` document) to the
role's JetStream KV bucket so a restart resumes where the last acknowledged batch left off."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from aiops_core.models import (
    Incident,
    IncidentStatus,
    IncidentType,
    Severity,
    TimelineEvent,
)

# What one message carries; the store keeps everything (anomalies, incident_events tables).
MAX_TRACKING_IDS = 200
MAX_EVIDENCE = 50
MAX_TIMELINE = 100
MAX_AFFECTED_DEVICES = 512
MAX_SERVICES = 256
MAX_DETECTORS = 64
# Anomaly ids remembered per incident to recognise a redelivery: more than any batch that can be
# in flight (unacked) when the role stops, so a restart never counts an anomaly twice.
MAX_REMEMBERED_ANOMALIES = 1024


def _ordered(values: list[str] | tuple[str, ...] = ()) -> OrderedDict[str, None]:
    return OrderedDict((v, None) for v in values)


def add_capped(ordered: OrderedDict[str, Any], key: str, value: Any, cap: int) -> bool:
    """Adds or refreshes `key` as the most recent entry, dropping the oldest beyond `cap`.
    True when the key is new."""
    new = key not in ordered
    ordered[key] = value
    ordered.move_to_end(key)
    while len(ordered) > cap:
        ordered.popitem(last=False)
    return new


@dataclass
class IncidentState:
    """One incident as correlation holds it: the Incident fields plus what correlating needs."""

    incident_id: str
    ship_id: str
    fingerprint: str
    incident_type: IncidentType
    root_cause_device: str
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    base_severity: Severity = Severity.LOW
    severity: Severity = Severity.LOW
    status: IncidentStatus = IncidentStatus.OPEN
    suppressed_by: str | None = None
    title: str = ""
    root_cause_reason: str = ""
    root_kind: str | None = None
    anomaly_count: int = 0
    version: int = 0
    affected_devices: OrderedDict[str, None] = field(default_factory=OrderedDict)
    services: OrderedDict[str, None] = field(default_factory=OrderedDict)
    detectors: OrderedDict[str, None] = field(default_factory=OrderedDict)
    tracking_ids: OrderedDict[str, None] = field(default_factory=OrderedDict)
    # signature -> evidence dict; entries are replaced, never mutated, once published.
    evidence: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    timeline: deque[TimelineEvent] = field(default_factory=lambda: deque(maxlen=MAX_TIMELINE))
    recent_anomaly_ids: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_REMEMBERED_ANOMALIES))
    # Other fingerprints routed here (the storm incident folds many).
    aliases: list[str] = field(default_factory=list)
    # True while every anomaly is a plausible downstream symptom: only then may an upstream
    # device's fault re-root the incident.
    all_symptoms: bool = True
    escalations: list[str] = field(default_factory=list)
    storm: bool = False
    flapping: bool = False
    operator_status_at: datetime | None = None
    resolved_at: datetime | None = None

    def to_incident(self) -> Incident:
        # The state only ever holds validated values, so the hot path skips re-validation;
        # tests round-trip every published incident through Incident validation.
        return Incident.model_construct(
            incident_id=self.incident_id,
            ship_id=self.ship_id,
            fingerprint=self.fingerprint,
            incident_type=self.incident_type,
            severity=self.severity,
            status=self.status,
            title=self.title,
            root_cause_device=self.root_cause_device,
            root_cause_reason=self.root_cause_reason,
            affected_devices=list(self.affected_devices),
            services=list(self.services),
            anomaly_count=self.anomaly_count,
            tracking_ids=list(self.tracking_ids),
            detectors=list(self.detectors),
            evidence=list(self.evidence.values()),
            runbook_refs=[],
            suppressed_by=self.suppressed_by,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            created_at=self.created_at,
            updated_at=self.updated_at,
            version=self.version,
            timeline=list(self.timeline),
        )

    def to_json(self) -> bytes:
        return orjson.dumps({
            "incident": self.to_incident().model_dump(mode="json"),
            "base_severity": self.base_severity.value,
            "root_kind": self.root_kind,
            "recent_anomaly_ids": list(self.recent_anomaly_ids),
            "aliases": self.aliases,
            "all_symptoms": self.all_symptoms,
            "escalations": self.escalations,
            "storm": self.storm,
            "flapping": self.flapping,
            "operator_status_at": self.operator_status_at.isoformat() if self.operator_status_at else None,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
        })

    @classmethod
    def from_json(cls, data: bytes) -> IncidentState:
        doc = orjson.loads(data)
        incident = Incident.model_validate(doc["incident"])
        return cls(
            incident_id=incident.incident_id,
            ship_id=incident.ship_id,
            fingerprint=incident.fingerprint,
            incident_type=incident.incident_type,
            root_cause_device=incident.root_cause_device,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            created_at=incident.created_at,
            updated_at=incident.updated_at,
            base_severity=Severity(doc["base_severity"]),
            severity=incident.severity,
            status=incident.status,
            suppressed_by=incident.suppressed_by,
            title=incident.title,
            root_cause_reason=incident.root_cause_reason,
            root_kind=doc["root_kind"],
            anomaly_count=incident.anomaly_count,
            version=incident.version,
            affected_devices=_ordered(incident.affected_devices),
            services=_ordered(incident.services),
            detectors=_ordered(incident.detectors),
            tracking_ids=_ordered(incident.tracking_ids),
            evidence=OrderedDict((e["signature"], e) for e in incident.evidence),
            timeline=deque(incident.timeline, maxlen=MAX_TIMELINE),
            recent_anomaly_ids=deque(doc["recent_anomaly_ids"], maxlen=MAX_REMEMBERED_ANOMALIES),
            aliases=list(doc["aliases"]),
            all_symptoms=doc["all_symptoms"],
            escalations=list(doc["escalations"]),
            storm=doc["storm"],
            flapping=doc["flapping"],
            operator_status_at=_parse_time(doc["operator_status_at"]),
            resolved_at=_parse_time(doc["resolved_at"]),
        )


@dataclass
class Meta:
    """The counters behind storm and flapping control, persisted as one small document."""

    # ship_id -> times a new incident was about to open (storm rate, last minute only).
    new_incidents: dict[str, list[datetime]] = field(default_factory=dict)
    # ship_id -> its open storm incident.
    storm_incident: dict[str, str] = field(default_factory=dict)
    # fingerprint -> open/resolve transition times within the flapping window.
    transitions: dict[str, list[datetime]] = field(default_factory=dict)
    # "ship_id/device_id" -> [last direction ("up"/"down"), toggle times within the window].
    toggles: dict[str, tuple[str, list[datetime]]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return orjson.dumps({
            "new_incidents": self.new_incidents,
            "storm_incident": self.storm_incident,
            "transitions": self.transitions,
            "toggles": {k: [d, times] for k, (d, times) in self.toggles.items()},
        })

    @classmethod
    def from_json(cls, data: bytes) -> Meta:
        doc = orjson.loads(data)
        return cls(
            new_incidents={k: [_parse_time(t) for t in v] for k, v in doc["new_incidents"].items()},
            storm_incident=dict(doc["storm_incident"]),
            transitions={k: [_parse_time(t) for t in v] for k, v in doc["transitions"].items()},
            toggles={k: (d, [_parse_time(t) for t in times]) for k, (d, times) in doc["toggles"].items()},
        )


@dataclass
class CorrelationState:
    incidents: dict[str, IncidentState] = field(default_factory=dict)
    meta: Meta = field(default_factory=Meta)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
