"""Incidents full of personal data, for the ship-to-shore tests: what must never reach the shore."""

from __future__ import annotations

import uuid
from datetime import timedelta

from aiops_core.models import (
    EnrichedAnomaly,
    EnrichedIncident,
    Incident,
    IncidentChange,
    IncidentStatus,
    Insight,
    StageStamp,
    TimelineEvent,
    new_tracking_id,
    utc_now,
)

SHIP = "ms-aurora"
# Each of these is personal data one privacy.yaml rule must take out.
PII = {
    "email": "jane.doe@example.com",
    "card": "4111 1111 1111 1111",
    "phone": "+44 20 7946 0958",
    "passport": "X1234567",
    "guest": "Jane Doe",
}
# A raw log line: it may be quoted in an incident's trigger and evidence, never sent ashore.
RAW_LINE_MARKER = "RAWLINE-7f3a"
RAW_LINE = f"{RAW_LINE_MARKER} pos-gw-01 payment declined card {PII['card']} for {PII['email']}"
# A digit-only UUID the card rule would match: identifiers must pass untouched.
CARD_LIKE_UUID = "41111111-1111-4111-8111-111111111111"


def pii_text() -> str:
    return (f"guest {PII['email']} in cabin 8123 guest {PII['guest']} called from {PII['phone']}, "
            f"passport {PII['passport']}")


def trigger(ship_id: str = SHIP) -> EnrichedAnomaly:
    now = utc_now()
    return EnrichedAnomaly(
        tracking_id=new_tracking_id(), ship_id=ship_id, anomaly_id=str(uuid.uuid4()), device_id="pos-gw-01",
        detector="log_pattern", incident_type="app_degradation", severity="high", score=0.9,
        message=RAW_LINE, template="payment declined card <*> for <*>", detected_at=now,
        ingestion_timestamp=now, event_timestamp=now,
    )


def incident(incident_id: str | None = None, *, version: int = 1, ship_id: str = SHIP,
             status: IncidentStatus = IncidentStatus.OPEN, title: str | None = None) -> Incident:
    now = utc_now()
    incident_id = incident_id or str(uuid.uuid4())
    return Incident(
        incident_id=incident_id, ship_id=ship_id, fingerprint=f"{ship_id}:app:pos-gw-01",
        incident_type="app_degradation", severity="high", status=status,
        title=title or f"POS declines for {PII['email']}", root_cause_device="pos-gw-01",
        root_cause_reason=pii_text(), affected_devices=["pos-gw-01"], anomaly_count=version,
        tracking_ids=[CARD_LIKE_UUID], detectors=["log_pattern"],
        evidence=[{"signature": "pos-gw-01:app_degradation:t1", "tracking_id": CARD_LIKE_UUID,
                   "message": RAW_LINE, "template": "payment declined card <*> for <*>",
                   "detail": {"note": pii_text()}, "count": 1}],
        first_seen=now, last_seen=now, created_at=now, updated_at=now + timedelta(microseconds=version),
        version=version,
        timeline=[TimelineEvent(at=now, kind="anomaly", summary=f"log_pattern on pos-gw-01: {pii_text()}")],
    )


def change(kind: str = "created", **kwargs) -> IncidentChange:
    return IncidentChange(change=kind, incident=incident(**kwargs), trigger=trigger() if kind != "status" else None,
                          actor="olga" if kind == "status" else None)


def insight(incident_id: str, *, version: int = 1, ship_id: str = SHIP) -> EnrichedIncident:
    now = utc_now()
    return EnrichedIncident(
        incident_id=incident_id, ship_id=ship_id, incident_version=version,
        insight=Insight(root_cause=f"card reader fault reported by {PII['email']}", impact=pii_text(),
                        recommendations=[f"call the guest on {PII['phone']}"], confidence=0.6,
                        source="fallback", generated_at=now, latency_ms=12.0),
        trace=[StageStamp(stage="incident", service="correlation", at=now, duration_ms=0)],
    )
