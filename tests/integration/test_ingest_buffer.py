"""The ingest role's syslog path while NATS is down: lines go to the disk journal under the data
dir and are replayed, in order and all of them, once the server is back (real nats-server, chDB)."""

from __future__ import annotations

import asyncio
import json

import pytest

from aiops_core import metrics
from aiops_core.bus import Bus
from aiops_core.nats_server import free_port
from aiops_core.policy import DEFAULT_POLICIES_DIR, load_policy
from aiops_core.runtime import Runtime
from aiops_core.settings import Settings
from services.ingest.app import IngestRole
from tests.support import async_wait_until

pytestmark = pytest.mark.integration


async def send_tcp(port: int, first: int, count: int) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(f"<134>Nov 25 10:00:00 FGT-AURORA-01 fortigate: buffered line {i}\n".encode()
                          for i in range(first, first + count)))
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def stream_lines(bus: Bus) -> list[int]:
    info = await bus.js.stream_info("LOGS")
    numbers = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        # A logs.raw message holds one or more lines (NDJSON).
        for line in (await bus.js.get_msg("LOGS", seq)).data.split(b"\n"):
            numbers.append(int(json.loads(line)["message"].rsplit(" ", 1)[1]))
    return numbers


def counter(outcome: str) -> float:
    return metrics.INGESTED.labels("syslog", outcome)._value.get()


async def test_syslog_lines_are_journalled_while_nats_is_down_and_replayed_in_order(nats_server, store, tmp_path):
    """Lines sent while the nats-server is stopped land in <data-dir>/ingest-buffer, the gauge shows
    them, and after the restart logs.raw holds every line once, in the order sent."""
    bus = await Bus.connect(nats_server.url, role="ingest")
    await bus.ensure_topology(max_deliver=5, ack_wait_seconds=30)
    settings = Settings(data_dir=tmp_path / "data", syslog_host="127.0.0.1", syslog_port=free_port(), archive_enabled=False)
    runtime = Runtime(settings=settings, policy=load_policy(DEFAULT_POLICIES_DIR), bus=bus, store=store)
    role = IngestRole()
    await role.start(runtime.for_role("ingest"))
    buffered_before = counter("buffered")
    try:
        await send_tcp(settings.syslog_port, 0, 50)
        await async_wait_until(lambda: _ready(lambda: stream_lines(bus), 50), timeout=20)

        await asyncio.to_thread(nats_server.stop)
        await async_wait_until(lambda: _true(not bus.connected), timeout=10)
        await send_tcp(settings.syslog_port, 50, 300)
        await async_wait_until(lambda: _true(role.buffer.lines == 300), timeout=30)
        journal = list((settings.data_dir / "ingest-buffer").glob("*.ndjson"))
        assert journal and sum(len(p.read_bytes().splitlines()) for p in journal) == 300
        assert metrics.INGEST_BUFFERED._value.get() == 300
        assert counter("buffered") - buffered_before == 300

        await asyncio.to_thread(nats_server.start)
        lines = await async_wait_until(lambda: _ready(lambda: stream_lines(bus), 350), timeout=60)
        assert lines == list(range(350))
        assert role.buffer.empty and metrics.INGEST_BUFFERED._value.get() == 0
        assert not list((settings.data_dir / "ingest-buffer").glob("*.ndjson"))
    finally:
        runtime.stop.set()
        await role.stop()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
        await bus.close()


async def _ready(read, count: int):
    try:
        lines = await read()
    except Exception:  # noqa: BLE001 - the server is still coming back
        return None
    return lines if len(lines) >= count else None


async def _true(value: bool) -> bool:
    return value


async def test_a_full_queue_slows_a_tcp_sender_instead_of_dropping_its_lines(tmp_path):
    """With the publish queue full, the listener stops reading the TCP connection; once the queue
    drains every line arrives and none is counted as overflow."""
    from types import SimpleNamespace

    role = IngestRole()
    role.runtime = SimpleNamespace(settings=Settings(data_dir=tmp_path))
    role.queue = asyncio.Queue(maxsize=5)
    port = free_port()
    await role._listen("127.0.0.1", port)
    overflow_before = counter("overflow")
    try:
        sending = asyncio.create_task(send_tcp(port, 0, 2000))
        await async_wait_until(lambda: _true(role.queue.full()), timeout=10)
        await asyncio.sleep(0.5)
        # Blocked, not dropping: the queue is still full and nothing overflowed.
        assert role.queue.full() and counter("overflow") == overflow_before
        received = []
        while len(received) < 2000:
            received.append(await asyncio.wait_for(role.queue.get(), timeout=10))
        await sending
        entries = await role.parse_queued(received)
        assert [int(e.message.rsplit(" ", 1)[1]) for e in entries] == list(range(2000))
        assert counter("overflow") == overflow_before
    finally:
        role._udp_transport.close()
        role._tcp_server.close()
