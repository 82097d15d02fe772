"""The enrichment role's wiring on a real JetStream server and the real ClickHouse engine (chDB):
device context and history counts from seeded store rows, no double counting of a re-sent
anomaly, and basic enrichment once the store is unreachable."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from aiops_core.bus import ANOMALY_DETECTED, ANOMALY_ENRICHED, Bus, Outgoing
from aiops_core.devices import DEVICE_COLUMNS, Device
from aiops_core.models import AnomalyDetected, EnrichedAnomaly, Incident, IncidentType, Severity
from aiops_core.nats_server import free_port
from aiops_core.policy import DEFAULT_POLICIES_DIR, load_policy
from aiops_core.runtime import Runtime
from aiops_core.settings import Settings
from aiops_core.store import Store
from services.enrichment.app import EnrichmentConfig, EnrichmentRole
from tests.support import async_wait_until

pytestmark = pytest.mark.integration

UTC = timezone.utc
# The anomalies columns of migration 0001 (later migrations only add columns with defaults).
ANOMALY_COLUMNS = [
    "anomaly_id", "tracking_id", "incident_id", "ship_id", "device_id", "service", "detector",
    "incident_type", "severity", "score", "template", "template_id", "metric", "value", "message",
    "evidence", "enrichment_level", "detected_at", "ingestion_timestamp", "event_timestamp",
]
INCIDENT_COLUMNS = [
    "incident_id", "ship_id", "fingerprint", "incident_type", "severity", "status", "title",
    "root_cause_device", "anomaly_count", "first_seen", "last_seen", "created_at", "updated_at",
    "version", "doc",
]
VSAT, FIREWALL = "vsat-modem-01", "fw-01"
LINK, NETWORK = IncidentType.LINK_DEGRADATION, IncidentType.NETWORK_ISSUE


def stored_anomaly(ship: str, anomaly_id: str, device: str, incident_type: IncidentType, template_id: str, at: datetime) -> list:
    return [
        anomaly_id, str(uuid.uuid4()), str(uuid.uuid4()), ship, device, "modem", "log_pattern",
        incident_type.value, "medium", 0.7, "SNR dropped", template_id, "", None, "", "{}", "full", at, at, at,
    ]


def detected(ship: str, now: datetime) -> AnomalyDetected:
    return AnomalyDetected(
        tracking_id=str(uuid.uuid4()), anomaly_id=str(uuid.uuid4()), ship_id=ship, device_id=VSAT,
        service="modem", detector="log_pattern", incident_type=LINK, severity=Severity.MEDIUM, score=0.8,
        template="SNR dropped to <NUM> dB", template_id="t-snr", detected_at=now,
        ingestion_timestamp=now, event_timestamp=now,
    )


async def seed(store: Store, ship: str, now: datetime) -> str:
    """Two devices, eight anomalies (one written twice) and one incident on the VSAT modem."""
    devices = [
        Device(ship_id=ship, device_id=VSAT, kind="vsat_modem", vendor="iDirect", model="X7",
               location="Deck 12", criticality="critical", upstream=("acu-01",), services=("vsat-ku-band",)),
        Device(ship_id=ship, device_id=FIREWALL, kind="firewall", criticality="high"),
    ]
    await store.insert("devices", DEVICE_COLUMNS, [d.row() for d in devices])
    written_twice = str(uuid.uuid4())
    rows = [
        stored_anomaly(ship, written_twice, VSAT, LINK, "t-snr", now - timedelta(minutes=5)),
        stored_anomaly(ship, str(uuid.uuid4()), VSAT, LINK, "t-snr", now - timedelta(minutes=15)),
        stored_anomaly(ship, str(uuid.uuid4()), VSAT, LINK, "t-snr", now - timedelta(minutes=30)),
        stored_anomaly(ship, str(uuid.uuid4()), VSAT, LINK, "t-snr", now - timedelta(hours=3)),
        # Similar by type and device only, by template only, then neither, then too old.
        stored_anomaly(ship, str(uuid.uuid4()), VSAT, LINK, "t-lock", now - timedelta(days=3)),
        stored_anomaly(ship, str(uuid.uuid4()), FIREWALL, NETWORK, "t-snr", now - timedelta(days=2)),
        stored_anomaly(ship, str(uuid.uuid4()), FIREWALL, NETWORK, "t-acl", now - timedelta(days=2)),
        stored_anomaly(ship, str(uuid.uuid4()), VSAT, LINK, "t-snr", now - timedelta(days=8)),
    ]
    await store.insert("anomalies", ANOMALY_COLUMNS, rows)
    # A second insert is a second part: the duplicate stays until a merge, as after a redelivery.
    await store.insert("anomalies", ANOMALY_COLUMNS, rows[:1])
    incident = Incident(
        incident_id=str(uuid.uuid4()), ship_id=ship, fingerprint="fp", incident_type=LINK, severity=Severity.HIGH,
        title="VSAT SNR low", root_cause_device="acu-01", affected_devices=["acu-01", VSAT], anomaly_count=4,
        first_seen=now - timedelta(hours=4), last_seen=now - timedelta(hours=3),
        created_at=now - timedelta(hours=4), updated_at=now - timedelta(hours=3), version=1,
    )
    await store.insert("incidents", INCIDENT_COLUMNS, [[
        incident.incident_id, ship, incident.fingerprint, LINK.value, "high", "open", incident.title,
        incident.root_cause_device, incident.anomaly_count, incident.first_seen, incident.last_seen,
        incident.created_at, incident.updated_at, 1, incident.model_dump_json(),
    ]])
    return incident.incident_id


async def test_enrichment_over_the_bus_with_store_context_then_basic_when_the_store_is_gone(nats_server, store) -> None:
    """Enriched anomalies carry registry and store-history context, a re-sent anomaly is not counted twice, and an unreachable store yields basic enrichment."""
    ship = f"ship-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    incident_id = await seed(store, ship, now)

    bus = await Bus.connect(nats_server.url, role="test")
    await bus.ensure_topology(max_deliver=5, ack_wait_seconds=30)
    runtime = Runtime(settings=Settings(), policy=load_policy(DEFAULT_POLICIES_DIR), bus=bus, store=store)
    role_runtime = runtime.for_role("enrichment")
    role = EnrichmentRole(
        EnrichmentConfig(refresh_every_seconds=0.2, retry_after_failure_seconds=0.2, store_timeout_seconds=5)
    )
    stored: dict[str, list[EnrichedAnomaly]] = {}

    async def on_enriched(msg) -> None:
        enriched = EnrichedAnomaly.model_validate_json(msg.data)
        stored.setdefault(enriched.anomaly_id, []).append(enriched)
        await msg.ack()

    async def publish(anomaly: AnomalyDetected, nats_msg_id: str) -> None:
        await bus.publish(Outgoing(ANOMALY_DETECTED, anomaly, nats_msg_id))

    async def output_of(anomaly: AnomalyDetected) -> EnrichedAnomaly:
        async def arrived():
            return stored.get(anomaly.anomaly_id)

        return (await async_wait_until(arrived, timeout=20))[0]

    # A JetStream subscription sees what the stream stored, so a deduplicated output shows as absent.
    subscription = await bus.js.subscribe(ANOMALY_ENRICHED, cb=on_enriched, manual_ack=True)
    unreachable = Store(f"http://127.0.0.1:{free_port()}", timeout_seconds=1.0)
    try:
        await role.start(role_runtime)

        first = detected(ship, datetime.now(UTC))
        await publish(first, first.tracking_id)
        out = await output_of(first)

        assert out.enrichment_level == "full"
        assert out.context.device is not None
        assert (out.context.device.kind, out.context.device.criticality) == ("vsat_modem", Severity.CRITICAL)
        assert (out.context.same_template_1h, out.context.same_template_24h) == (4, 5)
        assert (out.context.same_device_1h, out.context.same_device_24h) == (4, 5)
        assert out.context.similar_anomalies_7d == 7
        assert out.context.last_incident_id == incident_id
        assert (out.severity, out.original_severity) == (Severity.HIGH, Severity.MEDIUM)
        assert out.context.escalations == ["satellite-link-degradation"]
        assert out.trace[-1].stage == "enrichment"

        # The detector re-sends the same anomaly under another message id: it is handled again,
        # but neither counted again nor stored a second time.
        await publish(first, f"{first.tracking_id}:again")
        second = detected(ship, datetime.now(UTC))
        await publish(second, second.tracking_id)
        assert (await output_of(second)).context.same_template_1h == 5
        assert len(stored[first.anomaly_id]) == 1

        role_runtime.store = unreachable

        async def degraded():
            return role.level() == "basic"

        await async_wait_until(degraded, timeout=20)
        third = detected(ship, datetime.now(UTC))
        await publish(third, third.tracking_id)
        basic = await output_of(third)

        assert basic.enrichment_level == "basic"
        assert basic.context.device is not None and basic.context.device.kind == "vsat_modem"
        assert (basic.context.same_template_1h, basic.context.same_device_24h, basic.context.similar_anomalies_7d) == (0, 0, 0)
        assert basic.context.last_incident_id is None
        assert basic.severity == Severity.HIGH
    finally:
        runtime.stop.set()
        await role.stop()
        if runtime.tasks:
            await asyncio.wait(runtime.tasks, timeout=15)
        await subscription.unsubscribe()
        await bus.close()
        await unreachable.close()
