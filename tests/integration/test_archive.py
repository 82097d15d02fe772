"""The ingest role's archiver against real NATS and the real engine: it takes logs.raw messages
undecoded, and the engine writes each good line's archive row and ingest stage."""

import asyncio
from types import SimpleNamespace

import orjson
import pytest

from aiops_core import metrics
from aiops_core.bus import LOGS_RAW, OutgoingLines, encode, pack_lines
from aiops_core.models import utc_now
from services.ingest.app import IngestRole
from tests.integration.test_bus import entry, line_without_device
from tests.support import async_wait_until

pytestmark = pytest.mark.integration


def _archived_count(outcome: str) -> float:
    return metrics.INGESTED.labels("archive", outcome)._value.get()


async def _archived(store, ids: list[str]) -> list[dict]:
    return await store.query(
        "SELECT toString(tracking_id) AS tracking_id, message, fields FROM aiops.logs_raw FINAL "
        "WHERE toString(tracking_id) IN {ids:Array(String)} ORDER BY message",
        {"ids": ids},
    )


async def test_archiver_writes_good_lines_of_packed_messages_once(bus, store):
    """Packed messages, one of them with an unreadable line and one without a device: every good
    line is archived with its ingest stage, the bad ones are not, the counters say which the
    engine read, and the messages are acked. (Archiving the same lines twice: test_store.)"""
    role = IngestRole(listen_syslog=False)
    role.runtime = SimpleNamespace(store=store)
    good = [entry(f"archived {i}").stamped("ingest", "ingest", utc_now()) for i in range(5)]
    no_device = line_without_device("no device")
    packed = pack_lines(LOGS_RAW, good[:3], lambda e: e.tracking_id)
    mixed = b"\n".join([encode(good[3]), b"{not json", orjson.dumps(no_device), encode(good[4])])
    archived_before, unreadable_before = _archived_count("archived"), _archived_count("unreadable")
    await bus.publish_many([*packed, OutgoingLines(LOGS_RAW, mixed, "mixed-1", 4)])

    stop = asyncio.Event()
    task = asyncio.create_task(bus.consume("ingest-archiver", role.archive_batch, batch=32, max_deliver=3, stop=stop))
    ids = [str(e.tracking_id) for e in good] + [no_device["tracking_id"]]
    try:
        await async_wait_until(lambda: _rows_are(store, ids, 5), timeout=20)
        await async_wait_until(lambda: _lag_is_zero(bus), timeout=20)
    finally:
        stop.set()
        await task

    rows = await _archived(store, ids)
    assert [r["message"] for r in rows] == [f"archived {i}" for i in range(5)]
    assert all(orjson.loads(r["fields"]) == {} for r in rows)
    stages = await store.query(
        "SELECT toString(tracking_id) AS t, stage FROM aiops.pipeline_trace FINAL WHERE toString(tracking_id) IN {ids:Array(String)}",
        {"ids": ids},
    )
    assert sorted((r["t"], r["stage"]) for r in stages) == sorted((str(e.tracking_id), "ingest") for e in good)
    # The engine read 6 of the 7 lines (the one without a device is filtered by the view).
    assert _archived_count("archived") - archived_before == 6
    assert _archived_count("unreadable") - unreadable_before == 1


async def _rows_are(store, ids: list[str], count: int) -> bool:
    return len(await _archived(store, ids)) == count


async def _lag_is_zero(bus) -> bool:
    return await bus.consumer_lag("ingest-archiver") == (0, 0)
