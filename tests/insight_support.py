"""Builders for the insight-path tests: incidents as correlation publishes them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import lru_cache

from aiops_core.models import Incident, IncidentChange, IncidentType, Severity, TimelineEvent, utc_now
from aiops_core.policy import Policy, load_policy
from aiops_core.settings import PROJECT_ROOT
from services.llm_enricher.knowledge import Runbook, load_runbooks


@lru_cache(maxsize=1)
def policy() -> Policy:
    return load_policy(PROJECT_ROOT / "policies")


@lru_cache(maxsize=1)
def runbooks() -> tuple[Runbook, ...]:
    found, problems = load_runbooks(PROJECT_ROOT / "knowledge")
    assert not problems, problems
    return tuple(found)


def runbook(runbook_id: str) -> Runbook:
    return next(r for r in runbooks() if r.id == runbook_id)


def rain_fade_evidence(device: str = "vsat-modem-01", count: int = 3) -> list[dict]:
    return [
        {"signature": f"{device}:snr", "device_id": device, "detector": "metric_threshold", "metric": "snr_db",
         "value": 4.2, "message": "snr_db 4.2 dB below 7 dB for 60 s", "template": None, "count": count,
         "detail": {}},
        {"signature": f"{device}:rain", "device_id": device, "detector": "log_pattern", "metric": None, "value": None,
         "message": "RX SNR low: rain fade suspected, Es/No degraded", "template": "RX SNR low: rain fade suspected",
         "count": 2, "detail": {"pattern": "vsat-rain-fade"}},
    ]


def make_incident(*, incident_id: str | None = None, incident_type: IncidentType = IncidentType.LINK_DEGRADATION,
                  severity: Severity = Severity.MEDIUM, device: str = "vsat-modem-01", version: int = 1,
                  title: str = "VSAT link degraded: SNR low in heavy rain", evidence: list[dict] | None = None,
                  updated_at: datetime | None = None, anomaly_count: int = 3,
                  timeline: list[TimelineEvent] | None = None, ship_id: str = "ms-aurora") -> Incident:
    now = updated_at or utc_now()
    return Incident(
        incident_id=incident_id or str(uuid.uuid4()), ship_id=ship_id, fingerprint=f"{ship_id}:{incident_type.value}:{device}",
        incident_type=incident_type, severity=severity, title=title, root_cause_device=device,
        root_cause_reason="snr_db below threshold on the VSAT modem; packet loss rising on fw-01 behind it",
        affected_devices=[device, "fw-01"], services=["guest-wifi", "pos"], anomaly_count=anomaly_count,
        detectors=["metric_threshold", "log_pattern"],
        evidence=rain_fade_evidence(device) if evidence is None else evidence,
        first_seen=now - timedelta(minutes=2), last_seen=now, created_at=now - timedelta(minutes=2),
        updated_at=now, version=version, timeline=timeline or [],
    )


def change(incident: Incident, kind: str = "created") -> IncidentChange:
    return IncidentChange(change=kind, incident=incident)
