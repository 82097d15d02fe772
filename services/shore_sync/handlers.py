"""Ship-to-shore logic, free of I/O: what of an incident may leave the ship (redacted, never a raw
log line unless privacy.yaml allows it), under which subject and message id, and what the shore
stores of what arrives."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from aiops_core.bus import SHORE_INCIDENTS, SHORE_INSIGHTS, Outgoing, Rejected, msg_id, ship_token
from aiops_core.models import (
    EnrichedIncident,
    IncidentChange,
    IncidentStatus,
    Insight,
    Severity,
    StageStamp,
    utc_now,
)
from aiops_core.policy import PrivacyPolicy, ShoreSummarySync
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


class Outbox:
    """Decides what of the INCIDENTS stream goes to SHORE_OUTBOX, and in what form.

    - privacy.yaml `shore_sync.incidents`: incident changes, redacted, without the log lines they
      quote unless `raw_logs` allows them (then still redacted);
    - privacy.yaml `shore_sync.summaries` with notify.yaml `shore_sync`: an incident's summary
      (its insight: root cause, impact, recommendations) for incidents of `min_severity` or
      worse, its text cut to `max_summary_chars`.

    Every output's msg_id derives from its input, so a redelivered input is deduplicated by the
    outbox stream. The only state is each incident's latest severity (an insight carries none);
    an insight of an incident not seen since a restart is sent, as severity only saves bytes."""

    def __init__(self, privacy: PrivacyPolicy, summaries: ShoreSummarySync, remember: int = 20_000) -> None:
        self.privacy = privacy
        self.summaries = summaries
        # Each update of an incident repeats most of its text (timeline, evidence): cached, a
        # storm of updates to a big incident costs one regex pass per new string, not per copy.
        self.redact = lru_cache(maxsize=4096)(privacy.redact_text) if "shore_sync" in privacy.apply_to else None
        self.remember = remember
        self.severity_of: OrderedDict[str, Severity] = OrderedDict()

    def message_for(self, message: BaseModel, *, started: datetime) -> Outgoing | None:
        if isinstance(message, IncidentChange):
            self._note_severity(message.incident.incident_id, message.incident.severity)
            if not self.privacy.shore_sync.incidents:
                return None
            change = message if self.privacy.shore_sync.raw_logs else without_log_lines(message)
            incident = change.incident
            return Outgoing(
                f"{SHORE_INCIDENTS}.{ship_token(incident.ship_id)}",
                redacted(change, self.redact),
                msg_id("shore", change.change, incident.incident_id, incident.version),
            )
        if isinstance(message, EnrichedIncident):
            if not self._summary_wanted(self.severity_of.get(message.incident_id)):
                return None
            stamp = StageStamp(
                stage=OUTBOX_STAGE, service=OUTBOX_STAGE, at=utc_now(),
                duration_ms=max(0.0, (utc_now() - started).total_seconds() * 1000),
            )
            enriched = redacted(message.model_copy(update={"trace": [*message.trace, stamp]}), self.redact)
            summary = enriched.model_copy(update={"insight": fit_summary(enriched.insight, self.summaries.max_summary_chars)})
            return Outgoing(
                f"{SHORE_INSIGHTS}.{ship_token(message.ship_id)}",
                summary,
                msg_id("shore", "insight", message.incident_id, message.incident_version),
            )
        raise Rejected(f"not an incident change or insight: {type(message).__name__}")

    def _summary_wanted(self, severity: Severity | None) -> bool:
        scope = self.privacy.shore_sync
        if not (scope.incidents and scope.summaries and self.summaries.enabled):
            return False
        return severity is None or severity.rank >= self.summaries.min_severity.rank

    def _note_severity(self, incident_id: str, severity: Severity) -> None:
        self.severity_of[incident_id] = severity
        self.severity_of.move_to_end(incident_id)
        while len(self.severity_of) > self.remember:
            self.severity_of.popitem(last=False)


def superseded(messages: Sequence[BaseModel]) -> set[int]:
    """Indexes of the messages in a batch that a later one in it makes pointless to send: an
    incident update when the batch holds a newer version of that incident, an insight when it
    holds one for a newer version. Under fan-in a fault's incident changes dozens of times a
    second; the shore needs its newest state, and each version costs a redaction here and 24 KB
    on the satellite link. Creations and operators' status changes always go: the shore writes
    a creation event for the one and replays the other into its operator status."""
    keys = [_version_key(message) for message in messages]
    newest: dict[tuple[str, str], int] = {}
    for key, version in keys:
        if key is not None:
            newest[key] = max(newest.get(key, version), version)
    skipped = set()
    for index, (message, (key, version)) in enumerate(zip(messages, keys, strict=True)):
        coalescible = isinstance(message, EnrichedIncident) or (isinstance(message, IncidentChange) and message.change == "updated")
        if key is not None and coalescible and version < newest[key]:
            skipped.add(index)
    return skipped


def _version_key(message: BaseModel) -> tuple[tuple[str, str] | None, int]:
    if isinstance(message, IncidentChange):
        return ("incident", message.incident.incident_id), message.incident.version
    if isinstance(message, EnrichedIncident):
        return ("insight", message.incident_id), message.incident_version
    return None, 0


def fit_summary(insight: Insight, max_chars: int) -> Insight:
    """The insight's text within `max_chars` in all: root cause first, then impact, then as many
    recommendations as fit. Similar incidents keep their id and title; their resolutions are
    dropped (the shore has those incidents itself)."""
    budget = max_chars
    root_cause = insight.root_cause[:budget]
    budget -= len(root_cause)
    impact = insight.impact[:budget]
    budget -= len(impact)
    recommendations = []
    for recommendation in insight.recommendations:
        if budget <= 0:
            break
        recommendations.append(recommendation[:budget])
        budget -= len(recommendations[-1])
    return insight.model_copy(update={
        "root_cause": root_cause, "impact": impact, "recommendations": recommendations,
        "similar_incidents": [s.model_copy(update={"resolution": None}) for s in insight.similar_incidents],
    })


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
