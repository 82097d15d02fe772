"""The bus against a real nats-server with JetStream: dedup, ack after publish, retries, DLQ."""

import asyncio

import pytest

from aiops_core.bus import LOGS_RAW, Bus, Incoming, Outgoing, Rejected, per_message
from aiops_core.models import DeadLetter, LogEntry, new_tracking_id, utc_now
from tests.support import async_wait_until

pytestmark = pytest.mark.integration


def entry(message="carrier lost") -> LogEntry:
    now = utc_now()
    return LogEntry(tracking_id=new_tracking_id(), ship_id="ms-aurora", device_id="vsat-modem-01",
                    message=message, timestamp=now, ingestion_timestamp=now)


async def stream_count(bus: Bus, stream: str) -> int:
    return (await bus.js.stream_info(stream)).state.messages


async def dlq_letters(bus: Bus, role: str) -> list[DeadLetter]:
    sub = await bus.js.pull_subscribe(f"dlq.{role}", stream="DLQ")
    try:
        msgs = await sub.fetch(100, timeout=1)
    except Exception:
        return []
    return [DeadLetter.model_validate_json(m.data) for m in msgs]


@pytest.fixture
async def bus(nats_server):
    b = await Bus.connect(nats_server.url, role="test")
    await b.ensure_topology(max_deliver=3, ack_wait_seconds=5)
    yield b
    await b.close()


async def test_topology_is_idempotent(bus):
    """Declaring streams and consumers twice changes nothing and raises nothing."""
    await bus.ensure_topology(max_deliver=3, ack_wait_seconds=5)
    names = {s.config.name for s in await bus.js.streams_info()}
    assert {"LOGS", "TELEMETRY", "ANOMALIES", "INCIDENTS", "ACTIONS", "DLQ"} <= names


async def test_same_msg_id_is_stored_once(bus):
    """A republished message with the same Nats-Msg-Id is dropped by JetStream (no duplicate)."""
    e = entry()
    for _ in range(3):
        await bus.publish(Outgoing(LOGS_RAW, e, e.tracking_id))
    assert await stream_count(bus, "LOGS") == 1


async def test_outputs_are_published_with_input_derived_ids_and_inputs_acked(bus):
    """A consumer's outputs are stored with ids derived from the input, then the inputs are acked;
    the same inputs delivered again (a crash before the ack) produce no second output."""
    stop = asyncio.Event()
    seen: list[str] = []

    async def handle(item: Incoming):
        seen.append(item.message.tracking_id)
        # dlq.> is captured by the DLQ stream: a convenient place to count outputs here.
        return [Outgoing("dlq.output-check", item.message, f"{item.message.tracking_id}:out")]

    task = asyncio.create_task(bus.consume("ingest-archiver", per_message(handle), batch=10, max_deliver=3, stop=stop))
    entries = [entry(f"line {i}") for i in range(5)]
    await bus.publish_many([Outgoing(LOGS_RAW, e, e.tracking_id) for e in entries])
    await async_wait_until(lambda: _pending_is(bus, "ingest-archiver", 0))
    assert await stream_count(bus, "DLQ") == 5
    # Redeliver the same inputs under new ids (as a restarted producer would): outputs dedup.
    await bus.publish_many([Outgoing(LOGS_RAW, e, f"{e.tracking_id}:again") for e in entries])
    await async_wait_until(lambda: _true(len(seen) == 10))
    await async_wait_until(lambda: _pending_is(bus, "ingest-archiver", 0))
    stop.set()
    await task
    assert await stream_count(bus, "DLQ") == 5


async def test_failing_message_is_retried_then_dead_lettered_without_blocking_others(bus):
    """A message that keeps failing is redelivered up to max_deliver, then goes to the DLQ with the
    reason; the good messages behind it are processed."""
    stop = asyncio.Event()
    attempts: dict[str, int] = {}
    done: list[str] = []
    poison = entry("poison")

    async def handle(item: Incoming):
        tid = item.message.tracking_id
        attempts[tid] = attempts.get(tid, 0) + 1
        if tid == poison.tracking_id:
            raise RuntimeError("cannot handle this one")
        done.append(tid)
        return []

    # Short backoff so the test does not wait for the production schedule.
    from aiops_core import bus as bus_module
    spec = bus_module.CONSUMERS["ingest-archiver"]
    bus_module.CONSUMERS["ingest-archiver"] = bus_module.ConsumerSpec(spec.durable, spec.role, spec.stream, spec.subjects, (0.1,))
    try:
        task = asyncio.create_task(bus.consume("ingest-archiver", per_message(handle), batch=10, max_deliver=3, stop=stop))
        good = [entry(f"good {i}") for i in range(3)]
        await bus.publish_many([Outgoing(LOGS_RAW, e, e.tracking_id) for e in [poison, *good]])
        letters = await async_wait_until(lambda: dlq_letters(bus, "test"), timeout=20)
        stop.set()
        await task
    finally:
        bus_module.CONSUMERS["ingest-archiver"] = spec
    assert attempts[poison.tracking_id] == 3
    assert sorted(done) == sorted(e.tracking_id for e in good)
    assert letters[0].tracking_id == poison.tracking_id
    assert "cannot handle this one" in letters[0].reason and letters[0].deliveries == 3


async def test_invalid_and_rejected_messages_go_to_the_dlq_at_once(bus):
    """Garbage bytes and a Rejected input are dead-lettered on first delivery, with the reason."""
    stop = asyncio.Event()
    rejected = entry("reject me")

    async def handle(item: Incoming):
        if item.message.tracking_id == rejected.tracking_id:
            raise Rejected("never valid for this role")
        return []

    task = asyncio.create_task(bus.consume("ingest-archiver", per_message(handle), batch=10, max_deliver=5, stop=stop))
    await bus.js.publish(LOGS_RAW, b"\x00garbage{", headers={"Nats-Msg-Id": "garbage-1"})
    await bus.js.publish(LOGS_RAW, b'{"tracking_id": "x"}', headers={"Nats-Msg-Id": "invalid-1"})
    await bus.publish(Outgoing(LOGS_RAW, rejected, rejected.tracking_id))

    async def three_letters():
        letters = await dlq_letters(bus, "test")
        return letters if len(letters) >= 3 else None

    letters = await async_wait_until(three_letters, timeout=15)
    stop.set()
    await task
    reasons = " | ".join(l.reason for l in letters)
    assert "undecodable" in reasons or "invalid message" in reasons
    assert "tracking_id" in reasons  # the field that was wrong is named
    assert "never valid for this role" in reasons
    assert all(l.deliveries == 1 for l in letters)


async def test_consumer_survives_a_nats_restart(nats_server, bus):
    """After the server restarts, the consumer reconnects and processes what is published next."""
    stop = asyncio.Event()
    seen: list[str] = []

    async def handle(item: Incoming):
        seen.append(item.message.tracking_id)
        return []

    task = asyncio.create_task(bus.consume("ingest-archiver", per_message(handle), batch=10, max_deliver=3, stop=stop))
    nats_server.stop()
    nats_server.start()
    e = entry("after restart")

    async def published():
        try:
            await bus.publish(Outgoing(LOGS_RAW, e, e.tracking_id))
            return True
        except Exception:
            return False

    await async_wait_until(published, timeout=20, interval=0.5)
    await async_wait_until(lambda: _true(e.tracking_id in seen), timeout=20)
    stop.set()
    await task


async def _true(value: bool) -> bool:
    return value


async def _pending_is(bus: Bus, durable: str, expected: int) -> bool:
    pending, ack_pending = await bus.consumer_lag(durable)
    return pending == expected and ack_pending == 0
