"""PullFeed against a real JetStream server: what a consumer is handed, and when."""

import asyncio

import pytest

from aiops_core.bus import LOGS_RAW, Bus, Outgoing, PullFeed
from aiops_core.models import LogEntry, new_tracking_id, utc_now

pytestmark = pytest.mark.integration


def entry(message: str = "carrier lost") -> LogEntry:
    now = utc_now()
    return LogEntry(tracking_id=new_tracking_id(), ship_id="ms-aurora", device_id="vsat-modem-01",
                    message=message, timestamp=now, ingestion_timestamp=now)


async def publish(bus: Bus, count: int) -> None:
    entries = [entry(f"line {i}") for i in range(count)]
    await bus.publish_many([Outgoing(LOGS_RAW, e, e.tracking_id) for e in entries])


@pytest.fixture
async def bus(nats_server):
    b = await Bus.connect(nats_server.url, role="test")
    await b.ensure_topology(max_deliver=3, ack_wait_seconds=30)
    yield b
    await b.close()


async def test_a_lone_message_is_handed_over_without_waiting_for_the_batch(bus):
    """One message comes out at once while its pull request, open for a whole batch, is still
    waiting for the rest (fetch(batch) would hold it until the batch filled or expired)."""
    feed = PullFeed(bus.nc, "LOGS", "ingest-archiver", 256, expires_seconds=60)
    try:
        await feed.next_batch(timeout=0.2)
        await publish(bus, 1)
        msgs = await feed.next_batch(timeout=10)
        assert len(msgs) == 1
        assert feed._owed == 255
    finally:
        await feed.close()


async def test_lingering_gathers_a_batch_from_messages_that_arrive_one_by_one(bus):
    """With linger, a batch waits for later messages; without, the first is handed over alone."""
    lingering = PullFeed(bus.nc, "LOGS", "ingest-archiver", 3, linger_seconds=30)
    eager = PullFeed(bus.nc, "LOGS", "anomaly-detection-logs", 3)
    try:
        await publish(bus, 1)
        first_eager = await eager.next_batch(timeout=10)
        gathering = asyncio.create_task(lingering.next_batch(timeout=10))
        await asyncio.sleep(0.3)
        await publish(bus, 2)
        assert len(first_eager) == 1
        assert len(await gathering) == 3
    finally:
        await lingering.close()
        await eager.close()


async def test_at_most_two_batches_are_held_unacked(bus):
    """A consumer that has taken one batch has at most one more delivered to it in advance:
    the rest stays in JetStream (so a slow handler cannot see its messages' ack time run out)."""
    await publish(bus, 40)
    feed = PullFeed(bus.nc, "LOGS", "ingest-archiver", 5)
    try:
        assert len(await feed.next_batch(timeout=10)) == 5
        await asyncio.sleep(0.5)
        info = await bus.js.consumer_info("LOGS", "ingest-archiver")
        assert 5 <= info.num_ack_pending <= 10
        assert info.num_pending >= 30
    finally:
        await feed.close()
