"""The incident-api role on a real JetStream server and the real chDB store: an incident change is
served by the API the moment the role takes it, while its row is still being written, and stays
unacked in the INCIDENTS stream until the row is in the store; then the API lets go of it and
the message is acked. That is what "stored" means at the end of the fast path."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from aiops_core.bus import INCIDENTS_CREATED, Bus, Outgoing
from aiops_core.models import EnrichedAnomaly, Incident, IncidentChange, new_tracking_id, utc_now
from aiops_core.policy import load_policy
from aiops_core.runtime import Runtime
from aiops_core.settings import Settings
from services.incident_api.app import IncidentApiRole
from services.incident_api.recent import IncidentFilter, list_incidents
from tests.support import async_wait_until

pytestmark = pytest.mark.integration

POLICIES = Path(__file__).resolve().parents[2] / "policies"
DURABLE = "incident-api"


class GatedStore:
    """The real store, whose inserts into `incidents` wait until the gate opens (a slow engine)."""

    def __init__(self, store) -> None:
        self.store = store
        self.gate = asyncio.Event()

    async def insert(self, table, columns, rows, **kwargs):
        if table == "incidents" and rows:
            await self.gate.wait()
        return await self.store.insert(table, columns, rows, **kwargs)

    def __getattr__(self, name):
        return getattr(self.store, name)


def created(ship: str) -> IncidentChange:
    now = utc_now()
    ingested = now - timedelta(milliseconds=20)
    trigger = EnrichedAnomaly(
        tracking_id=new_tracking_id(), ship_id=ship, anomaly_id=str(uuid.uuid4()), device_id="vsat-01",
        detector="log_pattern", incident_type="link_degradation", severity="high", score=0.9,
        message="SNR below threshold", detected_at=now, ingestion_timestamp=ingested, event_timestamp=ingested,
    )
    incident = Incident(
        incident_id=str(uuid.uuid4()), ship_id=ship, fingerprint=f"{ship}:link:vsat-01",
        incident_type="link_degradation", severity="high", title="VSAT SNR low on vsat-01",
        root_cause_device="vsat-01", anomaly_count=1, first_seen=now, last_seen=now, created_at=now,
        updated_at=now, version=1,
    )
    return IncidentChange(change="created", incident=incident, trigger=trigger)


async def stored_rows(store, incident_id: str) -> int:
    rows = await store.query("SELECT count() AS n FROM aiops.incidents WHERE incident_id = {id:UUID}", {"id": incident_id})
    return rows[0]["n"]


async def test_a_change_is_served_at_once_and_acked_only_once_its_row_is_written(nats_server, store):
    ship = f"ship-{uuid.uuid4().hex[:10]}"
    bus = await Bus.connect(nats_server.url, role="incident-api", max_reconnect_attempts=2)
    await bus.ensure_topology(max_deliver=5, ack_wait_seconds=30)
    gated = GatedStore(store)
    runtime = Runtime(settings=Settings(ship_id=ship), policy=load_policy(POLICIES, ship), bus=bus, store=gated)
    role = IncidentApiRole()
    await role.start(runtime)
    try:
        change = created(ship)
        incident_id = change.incident.incident_id
        await bus.publish(Outgoing(INCIDENTS_CREATED, change, f"{incident_id}:1"))

        async def served():
            return await role.load_incident(incident_id)

        assert (await async_wait_until(served)).title == "VSAT SNR low on vsat-01"
        page, total = await list_incidents(gated, role.recent, IncidentFilter(ship_id=ship), offset=0, limit=10)
        assert [i.incident_id for i in page] == [incident_id] and total == 1
        # Served, not yet written: the row waits at the gate and the message is unacked.
        await asyncio.sleep(1.0)
        assert await stored_rows(store, incident_id) == 0
        assert (await bus.consumer_lag(DURABLE))[1] == 1

        opened = utc_now()
        gated.gate.set()

        async def written_and_acked():
            return (await stored_rows(store, incident_id) == 1 and role.recent.get(incident_id) is None
                    and (await bus.consumer_lag(DURABLE))[1] == 0)

        await async_wait_until(written_and_acked)
        # Now read from the store alone, the same incident.
        assert (await role.load_incident(incident_id)).incident_id == incident_id
        page, total = await list_incidents(gated, role.recent, IncidentFilter(ship_id=ship), offset=0, limit=10)
        assert [i.incident_id for i in page] == [incident_id] and total == 1
        # The anomaly's fast path ended when the incident was served, before its row could be written.
        rows = await store.query(
            "SELECT stored_at FROM aiops.anomalies WHERE incident_id = {id:UUID}", {"id": incident_id}
        )
        assert len(rows) == 1 and rows[0]["stored_at"] < opened
    finally:
        gated.gate.set()
        runtime.stop.set()
        await role.stop()
        await asyncio.wait(runtime.tasks, timeout=15)
        await bus.close()
