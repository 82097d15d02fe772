"""Incident-api logic, free of I/O: what to store for an incident change, which status
transitions an operator may make, and how stats are judged against the SLOs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from aiops_core.models import (
    EnrichedAnomaly,
    EnrichedIncident,
    Incident,
    IncidentChange,
    IncidentStatus,
    IncidentType,
    Severity,
    StageStamp,
    TimelineEvent,
)
from aiops_core.policy import SloPolicy

STAGE = "incident-api"

INCIDENT_COLUMNS = [
    "incident_id", "ship_id", "fingerprint", "incident_type", "severity", "status", "title",
    "root_cause_device", "anomaly_count", "first_seen", "last_seen", "created_at", "updated_at",
    "version", "doc",
]
ANOMALY_COLUMNS = [
    "anomaly_id", "tracking_id", "incident_id", "ship_id", "device_id", "service", "detector",
    "incident_type", "severity", "score", "template", "template_id", "metric", "value", "message",
    "evidence", "enrichment_level", "detected_at", "ingestion_timestamp", "event_timestamp",
    "stored_at", "fast_path_ms",
]
EVENT_COLUMNS = ["incident_id", "at", "kind", "summary", "tracking_id", "device_id", "actor"]
TRACE_COLUMNS = ["tracking_id", "stage", "service", "at", "duration_ms", "incident_id"]
INSIGHT_COLUMNS = [
    "incident_id", "ship_id", "incident_version", "source", "generated_at", "stored_at", "insight_path_ms", "insight",
]


@dataclass
class Rows:
    """Rows for one batch, one insert per table."""

    # The changed incidents themselves: the API serves them until they are written, and their
    # rows (24 KB documents) are made then, for the newest version of each only.
    incidents: list[Incident] = field(default_factory=list)
    anomalies: list[list] = field(default_factory=list)
    events: list[list] = field(default_factory=list)
    traces: list[list] = field(default_factory=list)
    insights: list[list] = field(default_factory=list)
    fast_path_ms: list[float] = field(default_factory=list)
    insight_path_ms: list[float] = field(default_factory=list)


def row_version(incident: Incident) -> int:
    """The row version the ReplacingMergeTree keeps the latest of: the change time in µs.

    Correlation and operators both change an incident; the later change wins, and a redelivered
    change (same updated_at) collapses into the row it already wrote."""
    return int(incident.updated_at.timestamp() * 1_000_000)


def incident_row(incident: Incident) -> list:
    return [
        incident.incident_id, incident.ship_id, incident.fingerprint, incident.incident_type.value,
        incident.severity.value, incident.status.value, incident.title, incident.root_cause_device,
        incident.anomaly_count, incident.first_seen, incident.last_seen, incident.created_at,
        incident.updated_at, row_version(incident), incident.model_dump_json(),
    ]


def keep_newest(kept: dict[str, Incident], incident: Incident) -> None:
    """Keeps the incident under its id unless a newer version is kept already (of two equal
    versions, the later one): redeliveries and fan-in bring changes out of order."""
    held = kept.get(incident.incident_id)
    if held is None or row_version(incident) >= row_version(held):
        kept[incident.incident_id] = incident


def newest(incidents: list[Incident]) -> list[Incident]:
    """One version per incident, its newest: under fan-in a batch holds several versions of one
    incident (24 KB documents each), and the table keeps only the newest anyway."""
    kept: dict[str, Incident] = {}
    for incident in incidents:
        keep_newest(kept, incident)
    return list(kept.values())


def effective(incident: Incident, operator_status: IncidentStatus | None) -> Incident:
    """An operator's acknowledge/resolve outranks correlation's open until the incident reopens."""
    if operator_status in (IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED) and incident.status == IncidentStatus.OPEN:
        return incident.model_copy(update={"status": operator_status})
    return incident


def add_change(rows: Rows, change: IncidentChange, *, stored_at: datetime, started: datetime,
               operator_status: IncidentStatus | None) -> None:
    incident = effective(change.incident, operator_status)
    rows.incidents.append(incident)
    if change.change == "created":
        rows.events.append(event_row(incident.incident_id, TimelineEvent(
            at=incident.created_at, kind="created",
            summary=f"{incident.severity.value} {incident.incident_type.value} incident opened: {incident.title}",
            device_id=incident.root_cause_device,
        )))
    trigger = change.trigger
    if trigger is None:
        return
    fast_path_ms = max(0.0, (stored_at - trigger.ingestion_timestamp).total_seconds() * 1000)
    rows.fast_path_ms.append(fast_path_ms)
    rows.anomalies.append(anomaly_row(trigger, incident.incident_id, stored_at, fast_path_ms))
    rows.events.append(event_row(incident.incident_id, TimelineEvent(
        at=trigger.detected_at, kind="anomaly",
        summary=f"{trigger.detector} on {trigger.device_id}: {(trigger.message or trigger.template or '')[:300]}",
        tracking_id=trigger.tracking_id, device_id=trigger.device_id,
    )))
    own = StageStamp(
        stage=STAGE, service=STAGE, at=stored_at,
        duration_ms=max(0.0, (stored_at - started).total_seconds() * 1000),
    )
    for stamp in [*trigger.trace, own]:
        rows.traces.append([trigger.tracking_id, stamp.stage, stamp.service, stamp.at, stamp.duration_ms, incident.incident_id])


def add_insight(rows: Rows, enriched: EnrichedIncident, *, stored_at: datetime) -> None:
    # The first stamp of an enriched incident is the incident change it explains.
    origin = enriched.trace[0].at if enriched.trace else enriched.insight.generated_at
    insight_path_ms = max(0.0, (stored_at - origin).total_seconds() * 1000)
    rows.insight_path_ms.append(insight_path_ms)
    rows.insights.append([
        enriched.incident_id, enriched.ship_id, enriched.incident_version, enriched.insight.source,
        enriched.insight.generated_at, stored_at, insight_path_ms, enriched.insight.model_dump_json(),
    ])


_STORED_AT = ANOMALY_COLUMNS.index("stored_at")
_FAST_PATH_MS = ANOMALY_COLUMNS.index("fast_path_ms")
_INGESTED_AT = ANOMALY_COLUMNS.index("ingestion_timestamp")
_TRACE_STAGE, _TRACE_AT, _TRACE_DURATION = (TRACE_COLUMNS.index(c) for c in ("stage", "at", "duration_ms"))


def mark_stored(rows: Rows, stored_at: datetime) -> None:
    """Dates the batch's anomaly rows to the moment their incidents' rows were stored: that is
    where the fast path ends (`fast_path_ms`, ingestion to incident stored). The incident-api's
    own trace stamp likewise ends there, and lasts from when its batch was taken."""
    rows.fast_path_ms = []
    for row in rows.anomalies:
        fast_path_ms = max(0.0, (stored_at - row[_INGESTED_AT]).total_seconds() * 1000)
        row[_STORED_AT] = stored_at
        row[_FAST_PATH_MS] = fast_path_ms
        rows.fast_path_ms.append(fast_path_ms)
    for row in rows.traces:
        if row[_TRACE_STAGE] == STAGE:
            taken = row[_TRACE_AT] - timedelta(milliseconds=row[_TRACE_DURATION])
            row[_TRACE_AT] = stored_at
            row[_TRACE_DURATION] = max(0.0, (stored_at - taken).total_seconds() * 1000)


def anomaly_row(anomaly: EnrichedAnomaly, incident_id: str, stored_at: datetime, fast_path_ms: float) -> list:
    return [
        anomaly.anomaly_id, anomaly.tracking_id, incident_id, anomaly.ship_id, anomaly.device_id,
        anomaly.service, anomaly.detector, anomaly.incident_type.value, anomaly.severity.value,
        anomaly.score, anomaly.template or "", anomaly.template_id or "", anomaly.metric or "",
        anomaly.value, anomaly.message, orjson.dumps(anomaly.evidence, default=str).decode(),
        anomaly.enrichment_level, anomaly.detected_at, anomaly.ingestion_timestamp,
        anomaly.event_timestamp, stored_at, fast_path_ms,
    ]


def event_row(incident_id: str, event: TimelineEvent) -> list:
    return [incident_id, event.at, event.kind, event.summary, event.tracking_id or "", event.device_id or "", event.actor or ""]


# --- operator status changes -------------------------------------------------------------------

ALLOWED_TRANSITIONS: dict[IncidentStatus, set[IncidentStatus]] = {
    IncidentStatus.OPEN: {IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED, IncidentStatus.SUPPRESSED},
    IncidentStatus.ACKNOWLEDGED: {IncidentStatus.RESOLVED, IncidentStatus.SUPPRESSED, IncidentStatus.OPEN},
    IncidentStatus.SUPPRESSED: {IncidentStatus.OPEN, IncidentStatus.RESOLVED},
    # A resolved incident stays resolved: a recurrence opens a new incident with its own history.
    IncidentStatus.RESOLVED: set(),
}


class InvalidTransition(ValueError):
    pass


def transition(incident: Incident, to: IncidentStatus, *, actor: str, comment: str, now: datetime,
               resolution: str | None = None) -> tuple[Incident, TimelineEvent]:
    if to == incident.status:
        raise InvalidTransition(f"incident is already {to.value}")
    if to not in ALLOWED_TRANSITIONS[incident.status]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED_TRANSITIONS[incident.status])) or "none"
        raise InvalidTransition(f"cannot go from {incident.status.value} to {to.value} (allowed: {allowed})")
    summary = f"{actor} set status {incident.status.value} → {to.value}"
    if comment:
        summary += f": {comment}"
    if resolution:
        summary += f" (resolution: {resolution})"
    event = TimelineEvent(at=now, kind="status", summary=summary[:16000], actor=actor)
    # Strictly later than the stored row so the ReplacingMergeTree keeps this change.
    updated_at = max(now, incident.updated_at + timedelta(microseconds=1))
    update = {
        "status": to,
        "updated_at": updated_at,
        "version": incident.version + 1,
        "timeline": [*incident.timeline[-99:], event],
    }
    if to == IncidentStatus.RESOLVED:
        # The resolution feeds retrieval (similar incidents' fixes); the comment stands in for it.
        update["resolution"] = (resolution or comment or None) and (resolution or comment)[:16000]
    changed = incident.model_copy(update=update)
    return changed, event


def manual_incident(*, ship_id: str, incident_type: IncidentType, severity: Severity, title: str,
                    device_id: str, description: str, actor: str, now: datetime) -> Incident:
    incident_id = str(uuid.uuid4())
    event = TimelineEvent(at=now, kind="created", summary=f"opened by {actor}: {description or title}"[:16000], actor=actor, device_id=device_id)
    return Incident(
        incident_id=incident_id, ship_id=ship_id, fingerprint=f"manual:{incident_id}",
        incident_type=incident_type, severity=severity, title=title, root_cause_device=device_id,
        root_cause_reason=description or "reported by an operator", affected_devices=[device_id],
        anomaly_count=0, first_seen=now, last_seen=now, created_at=now, updated_at=now, version=1,
        timeline=[event], detectors=["manual"],
    )


# --- stats ---------------------------------------------------------------------------------------

TIME_RANGES = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}


def parse_time_range(value: str) -> int:
    if value in TIME_RANGES:
        return TIME_RANGES[value]
    raise ValueError(f"time_range must be one of {', '.join(TIME_RANGES)}")


def slo_compliance(slo: SloPolicy, measured: dict[str, float | None]) -> dict[str, Any]:
    """Each objective with its target, the measured value and whether it is met (None: no data)."""
    out: dict[str, Any] = {}
    for name in ("fast_path_p99_ms", "insight_path_p99_ms", "error_rate_pct"):
        objective = getattr(slo, name)
        value = measured.get(name)
        met = None if value is None else (value <= objective.target if objective.bound == "max" else value >= objective.target)
        out[name] = {"target": objective.target, "bound": objective.bound, "measured": value, "met": met}
    return out


def quantiles(row: dict[str, Any] | None) -> dict[str, float | None]:
    if not row or not row.get("n"):
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "count": 0}
    q = row["q"]
    return {"p50_ms": round(q[0], 3), "p95_ms": round(q[1], 3), "p99_ms": round(q[2], 3), "count": int(row["n"])}
