"""A store outage under the incident-api (real NATS, real chDB behind a wrapper that fails its
inserts for a while): the bus holds the batch instead of spending deliveries, and every incident
ends stored once the store answers, none dead-lettered."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from aiops_core import metrics
from aiops_core.bus import INCIDENTS_CREATED, Bus, Outgoing
from aiops_core.policy import DEFAULT_POLICIES_DIR, load_policy
from aiops_core.runtime import Runtime
from aiops_core.settings import Settings
from aiops_core.nats_server import free_port
from aiops_core.store import Store, StoreDown, StoreUnavailable
from services.incident_api.app import IncidentApiRole
from tests.shore_sync_data import change
from tests.support import async_wait_until

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 8.0
# With two deliveries and a 1 s NAK backoff, an outage this long would dead-letter every
# incident if failed writes spent deliveries.
MAX_DELIVER = 2


class FlakyStore:
    """The real store, except that its inserts raise StoreDown until the outage is over."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down_until = 0.0
        self.refused = 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    async def insert(self, table, columns, rows, *, urgent=False) -> None:
        if time.monotonic() < self.down_until:
            self.refused += 1
            raise StoreDown(f"insert:{table} failed: injected outage")
        await self.store.insert(table, columns, rows, urgent=urgent)


def held() -> float:
    return metrics.MESSAGES.labels("incident-api", "held")._value.get()


async def test_incidents_written_during_a_store_outage_are_all_stored_afterwards(nats_server, store):
    """Twenty incidents published while inserts fail for 8 s are all in the incidents table after
    the outage, with max_deliver 2 and nothing in dlq.incident-api."""
    flaky = FlakyStore(store)
    bus = await Bus.connect(nats_server.url, role="incident-api")
    await bus.ensure_topology(max_deliver=MAX_DELIVER, ack_wait_seconds=30)
    settings = Settings(bus_max_deliver=MAX_DELIVER)
    runtime = Runtime(settings=settings, policy=load_policy(DEFAULT_POLICIES_DIR), bus=bus, store=flaky)
    role = IncidentApiRole()
    await role.start(runtime.for_role("incident-api"))
    held_before = held()
    try:
        changes = [change("created") for _ in range(20)]
        ids = [c.incident.incident_id for c in changes]
        flaky.down_until = time.monotonic() + OUTAGE_SECONDS
        for c in changes:
            await bus.publish(Outgoing(INCIDENTS_CREATED, c, f"{c.incident.incident_id}:1"))
        await async_wait_until(lambda: _true(flaky.refused >= 2), timeout=20)

        async def all_stored():
            rows = await store.query(
                "SELECT toString(incident_id) AS id FROM aiops.incidents FINAL WHERE has({ids:Array(String)}, toString(incident_id))",
                {"ids": ids},
            )
            return {r["id"] for r in rows} == set(ids)

        await async_wait_until(all_stored, timeout=60, interval=0.5)
        assert held() > held_before
        info = await bus.js.stream_info("DLQ")
        letters = [json.loads((await bus.js.get_msg("DLQ", seq)).data)
                   for seq in range(info.state.first_seq, info.state.last_seq + 1)] if info.state.messages else []
        assert not [letter for letter in letters if any(i in letter["payload"] for i in ids)]
        # Acked once the incidents' detail rows are stored too, a moment after the incident rows.
        async def all_acked():
            return await bus.consumer_lag("incident-api") == (0, 0)

        await async_wait_until(all_acked, timeout=20, interval=0.2)
    finally:
        runtime.stop.set()
        await role.stop()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
        await bus.close()


async def _true(value: bool) -> bool:
    return value



async def test_only_an_unreachable_store_is_an_outage_a_refused_query_is_not(store):
    """A query chDB refuses (a bad parameter) is a plain StoreUnavailable, which the bus retries a
    bounded number of times; an unreachable server is StoreDown, which it holds."""
    with pytest.raises(StoreUnavailable) as refused:
        await store.query("SELECT {t:DateTime64(6, 'UTC')} AS t", {"t": "637-04-26 07:51:35"})
    assert not isinstance(refused.value, StoreDown)
    unreachable = Store(f"http://127.0.0.1:{free_port()}", timeout_seconds=2.0)
    try:
        with pytest.raises(StoreDown):
            await unreachable.query("SELECT 1")
    finally:
        await unreachable.close()
