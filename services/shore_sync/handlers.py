"""Ship-to-shore logic, free of I/O: what of an incident may leave the ship (redacted, never a raw
log line), under which subject and message id, and what the shore stores of what arrives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from aiops_core.bus import SHORE_INCIDENTS, SHORE_INSIGHTS, Outgoing, Rejected, msg_id, ship_token
from aiops_core.models import EnrichedIncident, IncidentChange, IncidentStatus, StageStamp, utc_now
from aiops_core.policy import PrivacyPolicy
from services.incident_api import handlers as incident_handlers

OUTBOX_STAGE = "shore-outbox"
FLEET_STAGE = "fleet"

# Identifiers are never personal data, and a digit-rich UUID can look like a card number to the
# PAN rule: redacting one would break the message, so values under these keys are left alone.
IDENTIFIER_KEYS = frozenset({
    "incident_id", "tracking_id", "tracking_ids", "anomaly_id", "ship_id", "fingerprint",
    "template_id", "last_incident_id", "schema_version",
})

M = TypeVar("M", bound=BaseModel)


def outbox_message(message: BaseModel, privacy: PrivacyPolicy, *, started: datetime) -> Outgoing | None:
    """The redacted copy of an incident change or insight for SHORE_OUTBOX, or None when
    privacy.yaml keeps incidents on board. The msg_id derives from the input, so a redelivered
    input is deduplicated by the outbox stream."""
    if not privacy.shore_sync.incidents:
        return None
    redact = privacy.redact_text if "shore_sync" in privacy.apply_to else None
    if isinstance(message, IncidentChange):
        change = message if privacy.shore_sync.raw_logs else without_log_lines(message)
        incident = change.incident
        return Outgoing(
            f"{SHORE_INCIDENTS}.{ship_token(incident.ship_id)}",
            redacted(change, redact),
            msg_id("shore", change.change, incident.incident_id, incident.version),
        )
    if isinstance(message, EnrichedIncident):
        stamp = StageStamp(
            stage=OUTBOX_STAGE, service=OUTBOX_STAGE, at=utc_now(),
            duration_ms=max(0.0, (utc_now() - started).total_seconds() * 1000),
        )
        insight = message.model_copy(update={"trace": [*message.trace, stamp]})
        return Outgoing(
            f"{SHORE_INSIGHTS}.{ship_token(message.ship_id)}",
            redacted(insight, redact),
            msg_id("shore", "insight", message.incident_id, message.incident_version),
        )
    raise Rejected(f"not an incident change or insight: {type(message).__name__}")


def without_log_lines(change: IncidentChange) -> IncidentChange:
    """The change without the log lines it quotes: the triggering anomaly carries the raw line,
    and each evidence entry an excerpt of it; templates (masked) and counts stay."""
    incident = change.incident
    evidence = [{k: v for k, v in entry.items() if k != "message"} for entry in incident.evidence]
    return change.model_copy(update={"trigger": None, "incident": incident.model_copy(update={"evidence": evidence})})


def redacted(message: M, redact: Callable[[str], str] | None) -> M:
    """A copy with every free-text string passed through the privacy rules, re-validated; a text
    that a replacement made longer than its field allows is cut to fit."""
    if redact is None:
        return message
    data = _redact_tree(message.model_dump(mode="python"), redact, None)
    return _validated(type(message), data)


def _redact_tree(value: Any, redact: Callable[[str], str], key: str | None) -> Any:
    if key in IDENTIFIER_KEYS:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_tree(v, redact, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_tree(v, redact, key) for v in value]
    return value


def _validated(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        if any(e["type"] != "string_too_long" for e in errors):
            raise Rejected(f"redacted message no longer valid: {exc}") from exc
        # Replacements such as "passport [REDACTED]" can be longer than what they replace.
        for error in errors:
            _cut(data, error["loc"], error["ctx"]["max_length"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Rejected(f"redacted message no longer valid: {exc}") from exc


def _cut(data: Any, loc: tuple[Any, ...], max_length: int) -> None:
    for part in loc[:-1]:
        data = data[part]
    data[loc[-1]] = data[loc[-1]][:max_length]


# --- shore: what arrives from the fleet ------------------------------------------------------


def add_fleet_message(rows: incident_handlers.Rows, message: BaseModel, *, stored_at: datetime,
                      operator_status: dict[str, IncidentStatus]) -> None:
    """Adds what the shore stores of one ship's incident change or insight.

    Status changes made on board are replayed into `operator_status` so a later correlation
    update does not reopen an incident the ship's officer acknowledged, as on the ship itself.
    The incident's timeline is written as events (idempotent: the events table replaces by
    incident, time, kind), because the anomalies behind it stay on board."""
    if isinstance(message, IncidentChange):
        incident = message.incident
        if message.change == "status":
            operator_status[incident.incident_id] = incident.status
        incident_handlers.add_change(
            rows, message, stored_at=stored_at, started=stored_at,
            operator_status=operator_status.get(incident.incident_id),
        )
        for event in incident.timeline:
            rows.events.append(incident_handlers.event_row(incident.incident_id, event))
    elif isinstance(message, EnrichedIncident):
        incident_handlers.add_insight(rows, message, stored_at=stored_at)
    else:
        raise Rejected(f"not an incident change or insight: {type(message).__name__}")
