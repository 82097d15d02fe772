"""The V3 message contracts: every message that crosses the bus or the API.

Every model forbids unknown fields, bounds its strings and keeps timestamps timezone-aware
in UTC, so a malformed message fails at the edge with the field that is wrong.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

SCHEMA_VERSION = "3.0"


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    return value.astimezone(timezone.utc)


# The canonical form str(uuid.UUID(...)) gives: a value already in it is valid and normal as it
# is, and matching it is several times cheaper than parsing it (an incident change carries up
# to a few hundred ids, decoded by every consumer of incidents.*).
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _is_uuid(value: str) -> str:
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError("must be a UUID") from exc


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
TrackingId = Annotated[str, AfterValidator(_is_uuid)]
def _lowered(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


# Lowercased before the pattern is checked, so "FW-01" is accepted as "fw-01".
Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
    BeforeValidator(_lowered),
]
ShortText = Annotated[str, StringConstraints(max_length=256)]
MessageText = Annotated[str, StringConstraints(max_length=65536)]
LongText = Annotated[str, StringConstraints(max_length=16384)]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_tracking_id() -> str:
    return str(uuid.uuid4())


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def raised(self, steps: int = 1) -> Severity:
        order = list(Severity)
        return order[min(len(order) - 1, max(0, self.rank + steps))]


_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class LogLevel(StrEnum):
    EMERGENCY = "emergency"
    ALERT = "alert"
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"
    INFO = "info"
    DEBUG = "debug"


class IncidentType(StrEnum):
    LINK_DEGRADATION = "link_degradation"
    COMMS_OUTAGE = "comms_outage"
    NETWORK_ISSUE = "network_issue"
    RESOURCE_PRESSURE = "resource_pressure"
    AUTH_FAILURE = "auth_failure"
    SECURITY_ALERT = "security_alert"
    APP_DEGRADATION = "app_degradation"
    POWER_OR_HARDWARE = "power_or_hardware"
    CONFIG_CHANGE = "config_change"
    UNKNOWN = "unknown"


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"


class Contract(BaseModel):
    """Base of every bus and API contract."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=False)


class StageStamp(Contract):
    """One role's pass over a message: appended by each stage so the trace shows the path."""

    stage: ShortText
    service: ShortText
    at: UtcDatetime
    duration_ms: float = Field(ge=0)


class Traced(Contract):
    schema_version: Literal["3.0"] = SCHEMA_VERSION
    tracking_id: TrackingId
    ship_id: Identifier
    trace: list[StageStamp] = Field(default_factory=list, max_length=64)

    def stamped(self, stage: str, service: str, started: datetime, finished: datetime | None = None):
        """A copy with this stage's stamp appended (messages are treated as immutable)."""
        finished = finished or utc_now()
        stamp = StageStamp(
            stage=stage,
            service=service,
            at=finished,
            duration_ms=max(0.0, (finished - started).total_seconds() * 1000),
        )
        return self.model_copy(update={"trace": [*self.trace, stamp]})


class LogEntry(Traced):
    """A log line as it leaves ingestion on `logs.raw`."""

    device_id: Identifier
    service: Annotated[str, StringConstraints(max_length=128)] = "unknown"
    level: LogLevel = LogLevel.INFO
    message: MessageText
    timestamp: UtcDatetime
    ingestion_timestamp: UtcDatetime
    host: ShortText | None = None
    source: Literal["syslog", "http", "replay", "vector", "demo"] = "http"
    fields: dict[str, Any] = Field(default_factory=dict, max_length=64)


class MetricSample(Traced):
    """One link or device measurement on `telemetry.metrics`."""

    device_id: Identifier
    metric: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    value: float = Field(allow_inf_nan=False)
    unit: Annotated[str, StringConstraints(max_length=32)] = ""
    timestamp: UtcDatetime
    ingestion_timestamp: UtcDatetime
    labels: dict[str, ShortText] = Field(default_factory=dict, max_length=32)


class AnomalyDetected(Traced):
    """A detector's verdict on one log or metric sample, on `anomaly.detected`."""

    anomaly_id: TrackingId
    device_id: Identifier
    service: Annotated[str, StringConstraints(max_length=128)] = "unknown"
    detector: ShortText
    incident_type: IncidentType
    severity: Severity
    score: float = Field(ge=0, le=1)
    template: LongText | None = None
    template_id: ShortText | None = None
    metric: ShortText | None = None
    value: float | None = None
    message: MessageText = ""
    evidence: dict[str, Any] = Field(default_factory=dict, max_length=64)
    detected_at: UtcDatetime
    ingestion_timestamp: UtcDatetime
    event_timestamp: UtcDatetime


class DeviceContext(Contract):
    device_id: Identifier
    kind: ShortText = "unknown"
    vendor: ShortText | None = None
    model: ShortText | None = None
    location: ShortText | None = None
    criticality: Severity = Severity.MEDIUM
    upstream: list[Identifier] = Field(default_factory=list, max_length=16)
    services: list[ShortText] = Field(default_factory=list, max_length=64)


class AnomalyContext(Contract):
    device: DeviceContext | None = None
    same_template_1h: int = 0
    same_template_24h: int = 0
    same_device_1h: int = 0
    same_device_24h: int = 0
    similar_anomalies_7d: int = 0
    last_incident_id: ShortText | None = None
    last_incident_at: UtcDatetime | None = None
    escalations: list[ShortText] = Field(default_factory=list)


class EnrichedAnomaly(AnomalyDetected):
    """An anomaly with its context, on `anomaly.enriched`."""

    context: AnomalyContext = Field(default_factory=AnomalyContext)
    enrichment_level: Literal["full", "basic"] = "full"
    original_severity: Severity | None = None


class TimelineEvent(Contract):
    at: UtcDatetime
    kind: ShortText
    summary: LongText
    tracking_id: TrackingId | None = None
    device_id: Identifier | None = None
    actor: ShortText | None = None


class Incident(Contract):
    """The deduplicated incident, on `incidents.created` and `incidents.updated`."""

    schema_version: Literal["3.0"] = SCHEMA_VERSION
    incident_id: TrackingId
    ship_id: Identifier
    fingerprint: ShortText
    incident_type: IncidentType
    severity: Severity
    status: IncidentStatus = IncidentStatus.OPEN
    title: ShortText
    root_cause_device: Identifier
    root_cause_reason: LongText = ""
    affected_devices: list[Identifier] = Field(default_factory=list, max_length=512)
    services: list[ShortText] = Field(default_factory=list, max_length=256)
    anomaly_count: int = Field(ge=0)
    tracking_ids: list[TrackingId] = Field(default_factory=list)
    detectors: list[ShortText] = Field(default_factory=list)
    evidence: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    runbook_refs: list[ShortText] = Field(default_factory=list)
    suppressed_by: ShortText | None = None
    resolution: LongText | None = Field(None, description="What fixed it, as the operator who resolved it wrote.")
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int = Field(ge=1)
    timeline: list[TimelineEvent] = Field(default_factory=list)


class IncidentChange(Contract):
    """The incident as it now stands and what changed it: correlation publishes `created` and
    `updated` (with the anomaly that caused it); the incident-api publishes `status` when an
    operator acknowledges, resolves or suppresses it."""

    schema_version: Literal["3.0"] = SCHEMA_VERSION
    change: Literal["created", "updated", "status"]
    incident: Incident
    trigger: EnrichedAnomaly | None = None
    actor: ShortText | None = None


class SimilarIncident(Contract):
    incident_id: ShortText
    title: ShortText
    similarity: float
    resolution: LongText | None = None


class Insight(Contract):
    root_cause: LongText
    impact: LongText
    recommendations: list[LongText] = Field(max_length=20)
    confidence: float = Field(ge=0, le=1)
    source: Literal["llm", "fallback"]
    model: ShortText | None = None
    runbook_ids: list[ShortText] = Field(default_factory=list)
    similar_incidents: list[SimilarIncident] = Field(default_factory=list)
    generated_at: UtcDatetime
    latency_ms: float = Field(ge=0)
    cached: bool = False


class EnrichedIncident(Contract):
    """An incident with its explanation, on `incidents.enriched`."""

    schema_version: Literal["3.0"] = SCHEMA_VERSION
    incident_id: TrackingId
    ship_id: Identifier
    incident_version: int = Field(ge=1)
    insight: Insight
    trace: list[StageStamp] = Field(default_factory=list)


class ActionStatus(StrEnum):
    PROPOSED = "proposed"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RemediationAction(Contract):
    schema_version: Literal["3.0"] = SCHEMA_VERSION
    action_id: TrackingId
    incident_id: TrackingId | None = None
    ship_id: Identifier
    action: ShortText
    target_device: Identifier
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=32)
    risk: Literal["low", "medium", "high"]
    status: ActionStatus
    requested_by: ShortText
    approvals_required: int = Field(ge=0, le=5)
    approved_by: list[ShortText] = Field(default_factory=list)
    reason: LongText = ""
    result: LongText | None = None
    dry_run: bool = True
    created_at: UtcDatetime
    updated_at: UtcDatetime


class Approval(Contract):
    approval_id: TrackingId
    action_id: TrackingId
    approver: ShortText
    decision: Literal["approved", "rejected"]
    comment: LongText = ""
    at: UtcDatetime


class AuditEvent(Contract):
    audit_id: TrackingId
    at: UtcDatetime
    actor: ShortText
    role: ShortText
    action: ShortText
    target: ShortText
    result: ShortText
    details: dict[str, Any] = Field(default_factory=dict)


class DeadLetter(Contract):
    """What a role sends to `dlq.<role>` when it cannot process a message."""

    role: ShortText
    subject: ShortText
    reason: LongText
    error_type: ShortText
    deliveries: int = Field(ge=0)
    at: UtcDatetime
    tracking_id: ShortText | None = None
    payload: Annotated[str, StringConstraints(max_length=70000)]


CONTRACTS: dict[str, type[BaseModel]] = {
    "LogEntry": LogEntry,
    "MetricSample": MetricSample,
    "AnomalyDetected": AnomalyDetected,
    "EnrichedAnomaly": EnrichedAnomaly,
    "Incident": Incident,
    "IncidentChange": IncidentChange,
    "EnrichedIncident": EnrichedIncident,
    "RemediationAction": RemediationAction,
    "Approval": Approval,
    "AuditEvent": AuditEvent,
    "StageStamp": StageStamp,
    "DeadLetter": DeadLetter,
}
