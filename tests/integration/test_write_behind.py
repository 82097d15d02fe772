"""The incident-api's write-behind against the real chDB engine: batches added within its linger
share one insert per table (one row per incident, its newest), each batch's future completes
once its rows are stored and the held incidents are let go, a failed insert fails every waiting
batch (so the bus redelivers them); and the incident list merges held and stored incidents in
the engine's own order."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from datetime import timedelta

from aiops_core.models import Incident, IncidentStatus, TimelineEvent, utc_now
from services.incident_api import handlers
from services.incident_api.recent import IncidentFilter, RecentIncidents, list_incidents, store_order
from services.incident_api.write_behind import WriteBehind

pytestmark = pytest.mark.integration


class CountingStore:
    """The real store, counting inserts per table; `fail` makes the next inserts raise."""

    def __init__(self, store) -> None:
        self.store = store
        self.inserts: dict[str, int] = {}
        self.fail = False

    async def insert(self, table, columns, rows):
        if not rows:
            return
        if self.fail:
            raise RuntimeError("injected insert failure")
        self.inserts[table] = self.inserts.get(table, 0) + 1
        await self.store.insert(table, columns, rows)


def batch_rows(incident_id: str, events: int) -> handlers.Rows:
    rows = handlers.Rows()
    for number in range(events):
        rows.events.append(handlers.event_row(incident_id, TimelineEvent(
            at=utc_now(), kind="anomaly", summary=f"event {number}", device_id="fw-01",
        )))
    return rows


async def events_of(store, incident_id: str) -> int:
    rows = await store.query(
        "SELECT count() AS n FROM aiops.incident_events FINAL WHERE incident_id = {id:UUID}", {"id": incident_id}
    )
    return rows[0]["n"]


async def test_batches_within_the_linger_share_one_insert_and_complete_once_stored(store):
    counting = CountingStore(store)
    writer = WriteBehind(counting, linger_seconds=0.2)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    done_first = writer.add(batch_rows(first, 3))
    done_second = writer.add(batch_rows(second, 2))
    assert not done_first.done() and not done_second.done()
    await asyncio.wait_for(asyncio.gather(done_first, done_second), timeout=30)
    assert counting.inserts == {"incident_events": 1}
    assert await events_of(store, first) == 3 and await events_of(store, second) == 2
    # A batch without detail rows has nothing to wait for.
    assert writer.add(handlers.Rows()).done()


async def test_a_failed_insert_fails_every_waiting_batch_and_the_next_batches_go_on(store):
    counting = CountingStore(store)
    writer = WriteBehind(counting, linger_seconds=0.1)
    counting.fail = True
    failing = [writer.add(batch_rows(str(uuid.uuid4()), 1)) for _ in range(2)]
    results = await asyncio.gather(*failing, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    counting.fail = False
    later = str(uuid.uuid4())
    await asyncio.wait_for(writer.add(batch_rows(later, 1)), timeout=30)
    assert await events_of(store, later) == 1


def an_incident(last_seen_ms_ago: int, *, ship_id: str, status: str = "open") -> Incident:
    now = utc_now()
    seen = now - timedelta(milliseconds=last_seen_ms_ago)
    return Incident(
        incident_id=str(uuid.uuid4()), ship_id=ship_id, fingerprint=f"fp-{uuid.uuid4().hex}",
        incident_type="link_degradation", severity="high", status=status, title="VSAT SNR low",
        root_cause_device="vsat-01", anomaly_count=1, first_seen=seen, last_seen=seen, created_at=seen,
        updated_at=now, version=1,
    )


async def test_incident_rows_are_written_newest_once_and_then_let_go_from_memory(store):
    counting = CountingStore(store)
    recent = RecentIncidents()
    writer = WriteBehind(counting, linger_seconds=0.1, on_written=recent.written)
    first = an_incident(0, ship_id="wb-ship")
    newer = first.model_copy(update={"updated_at": first.updated_at + timedelta(milliseconds=5), "anomaly_count": 7})
    batches = []
    for version in (first, newer):
        rows = handlers.Rows()
        rows.incidents.append(version)
        recent.put(version)
        batches.append(writer.add(rows))
    assert recent.get(first.incident_id).anomaly_count == 7
    await asyncio.wait_for(asyncio.gather(*batches), timeout=30)
    assert counting.inserts == {"incidents": 1}
    stored = await store.query(
        "SELECT anomaly_count, count() OVER () AS rows FROM aiops.incidents WHERE incident_id = {id:UUID}",
        {"id": first.incident_id},
    )
    assert [(r["anomaly_count"], r["rows"]) for r in stored] == [(7, 1)]
    assert recent.get(first.incident_id) is None


async def test_the_list_merges_held_and_stored_incidents_in_the_engines_order(store):
    """Incidents sharing last_seen in pairs, so the UUID order decides ties as the engine does;
    some held in memory (one of them a newer change of a stored row, which must replace it), the
    rest stored. Every page equals the page of one sorted list, and the total counts each once."""
    ship = f"merge-{uuid.uuid4().hex[:8]}"
    everything = []
    for number in range(30):
        everything += [an_incident(number * 1000, ship_id=ship) for _ in range(2)]
    held_new = everything[::7]
    stored_rows = [i for i in everything if i not in held_new]
    replaced = stored_rows[3]
    newer = replaced.model_copy(update={"updated_at": replaced.updated_at + timedelta(seconds=1), "status": IncidentStatus.ACKNOWLEDGED})
    await store.insert("incidents", handlers.INCIDENT_COLUMNS, [handlers.incident_row(i) for i in stored_rows])
    recent = RecentIncidents()
    for incident in [*held_new, newer]:
        recent.put(incident)
    expected = sorted([*held_new, *(i for i in stored_rows if i is not replaced), newer], key=store_order)
    where = IncidentFilter(ship_id=ship)
    for limit in (1, 7, 25):
        for offset in range(0, len(expected) + 2, 3):
            page, total = await list_incidents(store, recent, where, offset=offset, limit=limit)
            assert total == len(expected)
            assert [i.incident_id for i in page] == [i.incident_id for i in expected[offset:offset + limit]], (offset, limit)
    acknowledged, total = await list_incidents(store, recent, IncidentFilter(ship_id=ship, status="acknowledged"), offset=0, limit=10)
    assert [i.incident_id for i in acknowledged] == [replaced.incident_id] and total == 1
