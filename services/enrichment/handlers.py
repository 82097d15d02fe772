"""Enrichment logic, free of I/O: an AnomalyDetected in, an EnrichedAnomaly out.

The anomaly gets its device's registry entry, its windowed history from the context cache, and
the escalation rules of `correlate.severity_map` that can be decided for one anomaly. The
detector's severity is kept in `original_severity`; the names of the rules that fired are in
`context.escalations`, so correlation can tell which rules were already applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from aiops_core.devices import Device, DeviceRegistry
from aiops_core.models import (
    AnomalyContext,
    AnomalyDetected,
    DeviceContext,
    EnrichedAnomaly,
    IncidentType,
    Severity,
)
from aiops_core.policy import CorrelatePolicy, EscalationCondition, EscalationRule
from services.enrichment.history import ContextCache

STAGE = "enrichment"
SERVICE = "enrichment"


@lru_cache(maxsize=4096)
def device_context_of(device: Device) -> DeviceContext:
    """A registry entry as a message field, built once per device version (Device is frozen)."""
    return device.context()


def correlation_windows(policy: CorrelatePolicy) -> dict[str, int]:
    """Seconds of the correlation window of every incident type."""
    return {incident_type.value: policy.windows.seconds_for(incident_type) for incident_type in IncidentType}


@dataclass(frozen=True)
class EscalationFacts:
    """What enrichment knows about one anomaly when it applies the severity map.

    `device_kind` is None for a device missing from the registry; `anomaly_count` (anomalies of
    the same ship and type inside the type's correlation window, this one included) is None when
    the store view is stale and counts are not published."""

    incident_type: IncidentType
    device_kind: str | None
    anomaly_count: int | None


def condition_holds(condition: EscalationCondition, facts: EscalationFacts) -> bool:
    # The number of affected devices belongs to the incident, which only correlation sees: a
    # rule that needs it never fires here.
    if condition.device_count_gte is not None:
        return False
    if condition.anomaly_count_gte is not None and (
        facts.anomaly_count is None or facts.anomaly_count < condition.anomaly_count_gte
    ):
        return False
    if condition.incident_types is not None and facts.incident_type not in condition.incident_types:
        return False
    if condition.root_device_kinds is not None and facts.device_kind not in condition.root_device_kinds:
        return False
    return True


def escalate(
    severity: Severity, rules: Sequence[EscalationRule], facts: EscalationFacts
) -> tuple[Severity, list[str]]:
    """Applies every rule whose conditions hold, in policy order: raise by `raise_levels`
    (capped at critical), then lift to `at_least`. Returns the severity and the rules that fired."""
    fired: list[str] = []
    for rule in rules:
        if not condition_holds(rule.when, facts):
            continue
        fired.append(rule.name)
        if rule.raise_levels:
            severity = severity.raised(rule.raise_levels)
        if rule.at_least is not None and rule.at_least.rank > severity.rank:
            severity = rule.at_least
    return severity, fired


def enrich(
    anomaly: AnomalyDetected,
    *,
    registry: DeviceRegistry,
    cache: ContextCache,
    rules: Sequence[EscalationRule],
    now: datetime,
) -> EnrichedAnomaly:
    """Counts the anomaly in the cache (once per anomaly_id) and builds its enriched form (the
    caller appends the stage stamp).

    "full" carries the windowed counts and the device's last incident; "basic" (store view failed
    or stale) carries only what the last good registry knows about the device."""
    cache.observe(anomaly, now)
    device = registry.get(anomaly.ship_id, anomaly.device_id)
    level = cache.level(now)
    counts = cache.counts(anomaly, now) if level == "full" else None
    facts = EscalationFacts(
        anomaly.incident_type,
        device.kind if device else None,
        counts.same_type_in_window if counts else None,
    )
    severity, fired = escalate(anomaly.severity, rules, facts)
    device_context = device_context_of(device) if device else None
    if counts is None:
        context = AnomalyContext(device=device_context, escalations=fired)
    else:
        context = AnomalyContext(
            device=device_context,
            escalations=fired,
            same_template_1h=counts.same_template_1h,
            same_template_24h=counts.same_template_24h,
            same_device_1h=counts.same_device_1h,
            same_device_24h=counts.same_device_24h,
            similar_anomalies_7d=counts.similar_anomalies_7d,
            last_incident_id=counts.last_incident_id,
            last_incident_at=counts.last_incident_at,
        )
    return EnrichedAnomaly.model_validate(
        {
            **anomaly.__dict__,
            "severity": severity,
            "original_severity": anomaly.severity,
            "context": context,
            "enrichment_level": level,
        }
    )
