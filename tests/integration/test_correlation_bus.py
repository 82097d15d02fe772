"""The correlation role's wiring on a real JetStream server and the real chDB store: consumers,
publishing with deterministic msg ids, the operator status consumer, and state in the KV bucket
surviving a restart."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import nats
import pytest

from aiops_core.bus import ANOMALY_ENRICHED, INCIDENTS_STATUS, Bus, decode, encode
from aiops_core.devices import DEVICE_COLUMNS, Device
from aiops_core.models import (
    EnrichedAnomaly,
    IncidentChange,
    IncidentStatus,
    IncidentType,
    Severity,
    new_tracking_id,
    utc_now,
)
from aiops_core.policy import load_policy
from aiops_core.runtime import Runtime
from aiops_core.settings import Settings
from services.correlation.app import CorrelationRole
from tests.support import async_wait_until

pytestmark = pytest.mark.integration

POLICIES = Path(__file__).resolve().parents[2] / "policies"
POS_TIMEOUT = "payment gateway timeout: connection to acquirer timed out after 30s"


class Outputs:
    """Every incidents.created / incidents.updated message, in stream order."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, IncidentChange]] = []

    async def handle(self, msg) -> None:
        if msg.subject in ("incidents.created", "incidents.updated"):
            self.changes.append((msg.subject, decode(msg.subject, msg.data)))

    def for_anomaly(self, anomaly_id: str) -> list[IncidentChange]:
        return [c for _, c in self.changes if c.trigger and c.trigger.anomaly_id == anomaly_id]


@pytest.fixture
async def client(nats_server):
    nc = await nats.connect(nats_server.url)
    bus = Bus(nc, "test")
    await bus.ensure_topology(max_deliver=5, ack_wait_seconds=30)
    yield nc
    await nc.close()


@pytest.fixture
async def outputs(client):
    collected = Outputs()
    sub = await client.jetstream().subscribe("incidents.>", stream="INCIDENTS", cb=collected.handle, ordered_consumer=True)
    yield collected
    await sub.unsubscribe()


@pytest.fixture
def ship() -> str:
    # chDB is shared by every test of the session: a ship of its own isolates this test's devices.
    return f"ship-{uuid.uuid4().hex[:10]}"


async def start_role(nats_url: str, store, ship: str) -> tuple[CorrelationRole, Runtime]:
    settings = Settings(ship_id=ship)
    bus = await Bus.connect(nats_url, role="correlation", max_reconnect_attempts=2)
    runtime = Runtime(settings=settings, policy=load_policy(POLICIES), bus=bus, store=store)
    role = CorrelationRole()
    await role.start(runtime)
    return role, runtime


async def stop_role(role: CorrelationRole, runtime: Runtime) -> None:
    runtime.stop.set()
    await role.stop()
    await asyncio.wait(runtime.tasks, timeout=15)
    await runtime.bus.close()


def anomaly(ship: str, device: str, incident_type: str, seconds: float, message: str = "") -> EnrichedAnomaly:
    at = utc_now() + timedelta(seconds=seconds)
    return EnrichedAnomaly(
        tracking_id=new_tracking_id(), ship_id=ship, anomaly_id=str(uuid.uuid4()), device_id=device,
        detector="log_pattern", incident_type=IncidentType(incident_type), severity=Severity.MEDIUM, score=0.8,
        message=message or f"{incident_type} on {device}", detected_at=at, ingestion_timestamp=at, event_timestamp=at,
    )


async def publish(client, item: EnrichedAnomaly, msg_id: str | None = None) -> None:
    await client.jetstream().publish(
        ANOMALY_ENRICHED, encode(item), headers={"Nats-Msg-Id": msg_id or item.anomaly_id}
    )


async def seed_devices(store, ship: str) -> None:
    devices = [
        Device(ship, "vsat-modem-01", kind="vsat_modem"),
        Device(ship, "core-rtr-01", kind="core_router", upstream=("vsat-modem-01",)),
        Device(ship, "fw-01", kind="firewall", upstream=("core-rtr-01",)),
        Device(ship, "pos-gw-01", kind="pos", upstream=("fw-01",)),
    ]
    await store.insert("devices", DEVICE_COLUMNS, [d.row() for d in devices])


async def test_one_created_then_updates_and_state_survives_a_restart(nats_server, store, client, outputs, ship):
    """N anomalies of one fault give one created and N-1 updated (a POS timeout behind the modem
    joins via the store's topology); a new role instance resumes the same incident from the KV
    bucket, and a redelivered anomaly is not counted again."""
    await seed_devices(store, ship)
    role, runtime = await start_role(nats_server.url, store, ship)
    batch = [anomaly(ship, "vsat-modem-01", "link_degradation", n) for n in range(9)]
    batch.append(anomaly(ship, "pos-gw-01", "app_degradation", 10, POS_TIMEOUT))
    for item in batch:
        await publish(client, item)
    await async_wait_until(lambda: _count(outputs, len(batch)))

    subjects = [s for s, _ in outputs.changes]
    assert subjects == ["incidents.created"] + ["incidents.updated"] * (len(batch) - 1)
    incidents = [c.incident for _, c in outputs.changes]
    incident_id = incidents[0].incident_id
    assert {i.incident_id for i in incidents} == {incident_id}
    assert [i.version for i in incidents] == list(range(1, len(batch) + 1))
    last = outputs.changes[-1][1]
    assert last.incident.root_cause_device == "vsat-modem-01"
    assert last.incident.affected_devices == ["vsat-modem-01", "pos-gw-01"]
    assert last.trigger.anomaly_id == batch[-1].anomaly_id
    assert last.trigger.trace[-1].stage == "correlation"
    await stop_role(role, runtime)

    role, runtime = await start_role(nats_server.url, store, ship)
    try:
        # A redelivery the stream cannot deduplicate (new msg id), then a fresh anomaly.
        await publish(client, batch[0], msg_id=f"redelivered:{batch[0].anomaly_id}")
        fresh = anomaly(ship, "vsat-modem-01", "comms_outage", 20)
        await publish(client, fresh)
        await async_wait_until(lambda: _has(outputs, fresh.anomaly_id))
        after = outputs.for_anomaly(fresh.anomaly_id)[0]
        assert after.change == "updated"
        assert after.incident.incident_id == incident_id
        assert after.incident.version == len(batch) + 1
        assert after.incident.anomaly_count == len(batch) + 1
        assert len(outputs.for_anomaly(batch[0].anomaly_id)) == 1
    finally:
        await stop_role(role, runtime)


async def test_operator_resolution_makes_the_next_anomaly_a_new_incident(nats_server, store, client, outputs, ship):
    """An incidents.status 'resolved' stops the incident absorbing: the next anomaly is created anew."""
    role, runtime = await start_role(nats_server.url, store, ship)
    try:
        first = anomaly(ship, "fw-01", "network_issue", 0)
        await publish(client, first)
        await async_wait_until(lambda: _has(outputs, first.anomaly_id))
        incident = outputs.for_anomaly(first.anomaly_id)[0].incident
        resolved = incident.model_copy(
            update={"status": IncidentStatus.RESOLVED, "version": incident.version + 1, "updated_at": utc_now()}
        )
        await client.jetstream().publish(
            INCIDENTS_STATUS, encode(IncidentChange(change="status", incident=resolved, actor="officer")),
            headers={"Nats-Msg-Id": f"status:{incident.incident_id}:{resolved.version}"},
        )
        await async_wait_until(lambda: _is_resolved(role, incident.incident_id))
        again = anomaly(ship, "fw-01", "network_issue", 5)
        await publish(client, again)
        await async_wait_until(lambda: _has(outputs, again.anomaly_id))
        change = outputs.for_anomaly(again.anomaly_id)[0]
        assert change.change == "created" and change.incident.incident_id != incident.incident_id
    finally:
        await stop_role(role, runtime)


async def test_batch_whose_publish_failed_is_rolled_back_and_republished(nats_server, store, client, outputs, ship):
    """When publishing a batch fails, the role returns to the persisted state, so the redelivered
    anomaly publishes the same incident version instead of being taken as already absorbed."""
    role, runtime = await start_role(nats_server.url, store, ship)
    try:
        first = anomaly(ship, "core-rtr-01", "network_issue", 0)
        await publish(client, first)
        await async_wait_until(lambda: _has(outputs, first.anomaly_id))

        real_publish_many = runtime.bus.publish_many
        failures = []

        async def fail_once(outs, timeout: float = 10.0):
            if outs and not failures:
                failures.append(len(outs))
                raise ConnectionError("simulated publish failure")
            await real_publish_many(outs, timeout)

        runtime.bus.publish_many = fail_once  # type: ignore[method-assign]
        second = anomaly(ship, "core-rtr-01", "network_issue", 5)
        await publish(client, second)
        await async_wait_until(lambda: _has(outputs, second.anomaly_id))
        assert failures == [1]
        change = outputs.for_anomaly(second.anomaly_id)[0]
        assert (change.change, change.incident.version, change.incident.anomaly_count) == ("updated", 2, 2)
        assert len(outputs.for_anomaly(second.anomaly_id)) == 1
    finally:
        await stop_role(role, runtime)


async def _count(outputs: Outputs, n: int) -> bool:
    return len(outputs.changes) >= n


async def _has(outputs: Outputs, anomaly_id: str) -> bool:
    return bool(outputs.for_anomaly(anomaly_id))


async def _is_resolved(role: CorrelationRole, incident_id: str) -> bool:
    incident = role.correlator.incidents.get(incident_id) if role.correlator else None
    return incident is not None and incident.status == IncidentStatus.RESOLVED
