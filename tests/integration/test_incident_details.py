"""The incident-api's bulk writer of detail rows against the real chDB engine: batches added
within its linger share one insert per table, each batch's future completes once its rows are
stored, and a failed insert fails every waiting batch (so the bus redelivers them)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from aiops_core.models import TimelineEvent, utc_now
from services.incident_api import handlers
from services.incident_api.details import DetailWriter

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
    writer = DetailWriter(counting, linger_seconds=0.2)
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
    writer = DetailWriter(counting, linger_seconds=0.1)
    counting.fail = True
    failing = [writer.add(batch_rows(str(uuid.uuid4()), 1)) for _ in range(2)]
    results = await asyncio.gather(*failing, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    counting.fail = False
    later = str(uuid.uuid4())
    await asyncio.wait_for(writer.add(batch_rows(later, 1)), timeout=30)
    assert await events_of(store, later) == 1
