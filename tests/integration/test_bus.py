"""The bus against a real nats-server with JetStream: dedup, ack after publish, retries, DLQ."""

import asyncio

import orjson
import pytest

from aiops_core import bus as bus_module
from aiops_core.bus import LOGS_RAW, AckAfter, Bus, Incoming, Outgoing, Rejected, encode, pack_lines, per_message
from aiops_core.models import DeadLetter, LogEntry, new_tracking_id, utc_now
from tests.support import async_wait_until

pytestmark = pytest.mark.integration


def entry(message="carrier lost") -> LogEntry:
    now = utc_now()
    return LogEntry(tracking_id=new_tracking_id(), ship_id="ms-aurora", device_id="vsat-modem-01",
                    message=message, timestamp=now, ingestion_timestamp=now)


def line_without_device(message: str) -> dict:
    """A logs.raw line as JSON that breaks the contract: it has no device_id."""
    line = orjson.loads(encode(entry(message)))
    del line["device_id"]
    return line


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
def short_backoff(monkeypatch):
    """Redeliveries after 0.1 s, so a test does not wait for the production schedule."""
    spec = bus_module.CONSUMERS["anomaly-detection-logs"]
    monkeypatch.setitem(bus_module.CONSUMERS, "anomaly-detection-logs",
                        bus_module.ConsumerSpec(spec.durable, spec.role, spec.stream, spec.subjects, (0.1,)))


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

    task = asyncio.create_task(bus.consume("anomaly-detection-logs", per_message(handle), batch=10, max_deliver=3, stop=stop))
    entries = [entry(f"line {i}") for i in range(5)]
    await bus.publish_many([Outgoing(LOGS_RAW, e, e.tracking_id) for e in entries])
    await async_wait_until(lambda: _pending_is(bus, "anomaly-detection-logs", 0))
    assert await stream_count(bus, "DLQ") == 5
    # Redeliver the same inputs under new ids (as a restarted producer would): outputs dedup.
    await bus.publish_many([Outgoing(LOGS_RAW, e, f"{e.tracking_id}:again") for e in entries])
    await async_wait_until(lambda: _true(len(seen) == 10))
    await async_wait_until(lambda: _pending_is(bus, "anomaly-detection-logs", 0))
    stop.set()
    await task
    assert await stream_count(bus, "DLQ") == 5


async def test_failing_message_is_retried_then_dead_lettered_without_blocking_others(bus, short_backoff):
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

    task = asyncio.create_task(bus.consume("anomaly-detection-logs", per_message(handle), batch=10, max_deliver=3, stop=stop))
    good = [entry(f"good {i}") for i in range(3)]
    await bus.publish_many([Outgoing(LOGS_RAW, e, e.tracking_id) for e in [poison, *good]])
    letters = await async_wait_until(lambda: dlq_letters(bus, "test"), timeout=20)
    stop.set()
    await task
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

    task = asyncio.create_task(bus.consume("anomaly-detection-logs", per_message(handle), batch=10, max_deliver=5, stop=stop))
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


async def test_a_multi_line_message_is_handled_line_by_line_and_a_bad_line_fails_alone(bus, short_backoff):
    """A logs.raw message packing several lines: the handler sees each line; an undecodable line
    and a Rejected one go to the DLQ (one letter each, naming the line) while the others are
    handled and the message is acked; a line that fails once has its message redelivered, and
    the outputs of the lines handled twice are stored once."""
    stop = asyncio.Event()
    rejected, flaky = entry("reject me"), entry("fails once")
    good = [entry(f"good {i}") for i in range(4)]
    seen: list[str] = []

    async def handle(item: Incoming):
        tid = item.message.tracking_id
        seen.append(tid)
        if tid == rejected.tracking_id:
            raise Rejected("never valid for this role")
        if tid == flaky.tracking_id and seen.count(tid) == 1:
            raise RuntimeError("a passing failure")
        return [Outgoing("dlq.output-check", item.message, f"{tid}:out")]

    task = asyncio.create_task(bus.consume("anomaly-detection-logs", per_message(handle), batch=10, max_deliver=5, stop=stop))
    lines = [encode(good[0]), b'{"tracking_id": "x"}', encode(rejected), encode(good[1]), encode(flaky),
             encode(good[2]), encode(good[3])]
    await bus.js.publish(LOGS_RAW, b"\n".join(lines), headers={"Nats-Msg-Id": "multi-1"})
    await async_wait_until(lambda: _pending_is(bus, "anomaly-detection-logs", 0), timeout=20)
    stop.set()
    await task
    letters = await dlq_letters(bus, "test")
    by_kind = {l.error_type: l for l in letters if l.subject == LOGS_RAW}
    assert set(by_kind) == {"invalid", "Rejected"}
    assert "line 2" in by_kind["invalid"].reason and "tracking_id" in by_kind["invalid"].reason
    assert by_kind["invalid"].payload == '{"tracking_id": "x"}'
    assert by_kind["Rejected"].tracking_id == rejected.tracking_id
    assert '"reject me"' in by_kind["Rejected"].payload and "good" not in by_kind["Rejected"].payload
    # Every good line handled (twice: the flaky line's message came back) and output once each.
    assert all(seen.count(e.tracking_id) == 2 for e in good) and seen.count(flaky.tracking_id) == 2
    assert await _subject_count(bus, "dlq.output-check") == len(good) + 1


async def test_packed_lines_keep_their_order_and_dedup_when_resent(bus):
    """pack_lines splits at its bounds, the consumer sees every line in order, and the same lines
    packed again (an HTTP batch resent with its Idempotency-Key) are stored once."""
    entries = [entry(f"line {i}") for i in range(bus_module.LINES_PER_MESSAGE + 10)]
    packed = pack_lines(LOGS_RAW, entries, lambda e: e.tracking_id)
    assert [p.count for p in packed] == [bus_module.LINES_PER_MESSAGE, 10]
    await bus.publish_many(packed)
    await bus.publish_many(pack_lines(LOGS_RAW, entries, lambda e: e.tracking_id))
    assert await stream_count(bus, "LOGS") == 2
    stop = asyncio.Event()
    seen: list[str] = []

    async def handle(item: Incoming):
        seen.append(item.message.message)
        return []

    task = asyncio.create_task(bus.consume("anomaly-detection-logs", per_message(handle), batch=10, max_deliver=3, stop=stop))
    await async_wait_until(lambda: _true(len(seen) == len(entries)), timeout=20)
    await async_wait_until(lambda: _pending_is(bus, "anomaly-detection-logs", 0))
    stop.set()
    await task
    assert seen == [e.message for e in entries]


async def test_ack_after_acks_only_once_stored_and_redelivers_when_storing_fails(bus, short_backoff):
    """A handler returning AckAfter: its inputs stay unacked while `stored` is pending (the
    consumer meanwhile handles the next batch), are acked when it completes, and come back when
    it fails."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future] = []
    seen: list[str] = []

    async def handle(items: list[Incoming]):
        seen.extend(item.message.message for item in items)
        stored = loop.create_future()
        pending.append(stored)
        return AckAfter([[] for _ in items], stored)

    task = asyncio.create_task(bus.consume("anomaly-detection-logs", handle, batch=10, max_deliver=5, stop=stop))
    first, second = entry("first"), entry("second")
    await bus.publish(Outgoing(LOGS_RAW, first, first.tracking_id))
    await async_wait_until(lambda: _true(len(pending) == 1))
    await bus.publish(Outgoing(LOGS_RAW, second, second.tracking_id))
    # The next batch is handled while the first still waits for its rows.
    await async_wait_until(lambda: _true(len(pending) == 2))
    assert await bus.consumer_lag("anomaly-detection-logs") == (0, 2)
    pending[0].set_result(None)
    await async_wait_until(lambda: _pending_is_ack(bus, 1))
    pending[1].set_exception(RuntimeError("rows not stored"))
    await async_wait_until(lambda: _true(seen.count("second") == 2), timeout=20)
    pending[2].set_result(None)
    await async_wait_until(lambda: _pending_is(bus, "anomaly-detection-logs", 0))
    stop.set()
    await task
    assert seen == ["first", "second", "second"]


async def _pending_is_ack(bus: Bus, ack_pending: int) -> bool:
    return (await bus.consumer_lag("anomaly-detection-logs"))[1] == ack_pending


async def _subject_count(bus: Bus, subject: str) -> int:
    sub = await bus.js.pull_subscribe(subject, stream="DLQ")
    try:
        return len(await sub.fetch(100, timeout=1))
    except Exception:
        return 0


async def test_consumer_survives_a_nats_restart(nats_server, bus):
    """After the server restarts, the consumer reconnects and processes what is published next."""
    stop = asyncio.Event()
    seen: list[str] = []

    async def handle(item: Incoming):
        seen.append(item.message.tracking_id)
        return []

    task = asyncio.create_task(bus.consume("anomaly-detection-logs", per_message(handle), batch=10, max_deliver=3, stop=stop))
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
