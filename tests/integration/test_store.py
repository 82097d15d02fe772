"""The store against the real ClickHouse engine (chDB): migrations, parameters, time zones."""

from datetime import timedelta

import orjson
import pytest

from aiops_core.store import Store, StoreUnavailable, _migrations, _statements
from aiops_core.bus import encode
from aiops_core.models import utc_now

pytestmark = pytest.mark.integration


async def test_migrations_are_recorded_and_idempotent(store):
    """Every migration is applied once; starting again applies nothing new."""
    versions = [row["version"] for row in await store.query("SELECT version FROM aiops.schema_migrations FINAL ORDER BY version")]
    assert versions == [v for v, _, _ in _migrations()]
    await store._run("migrate", store._migrate)
    again = [row["version"] for row in await store.query("SELECT version FROM aiops.schema_migrations FINAL ORDER BY version")]
    assert again == versions


async def test_every_designed_table_exists(store):
    """The tables of the design exist after migration."""
    rows = await store.query("SELECT name FROM system.tables WHERE database = {db:String}", {"db": "aiops"})
    names = {r["name"] for r in rows}
    assert {"logs_raw", "anomalies", "incidents", "incident_events", "pipeline_trace", "devices", "llm_cache",
            "actions", "approvals", "audit_log"} <= names


async def test_parameters_carry_hostile_values_safely(store):
    """A value full of SQL is only ever data: parameters, never string-built SQL."""
    hostile = "x'); DROP TABLE aiops.logs_raw; --"
    rows = await store.query("SELECT {v:String} AS v", {"v": hostile})
    assert rows == [{"v": hostile}]
    assert await store.scalar("SELECT count() FROM system.tables WHERE database = 'aiops' AND name = 'logs_raw'") == 1


async def test_archive_round_trip_is_timezone_aware_and_deduplicated(store):
    """A log archived from its logs.raw line reads back with aware UTC times, its fields and trace
    as JSON text and its ingest stage in the trace table; archived twice it is one row (FINAL)."""
    from tests.integration.test_bus import entry, line_without_device

    e = entry("archive me").stamped("ingest", "ingest", utc_now())
    line = encode(e)
    assert await store.insert_json_lines("logs_raw_in", line) == 1
    await store.insert_json_lines("logs_raw_in", line)
    rows = await store.query(
        "SELECT message, ingestion_timestamp, fields, trace FROM aiops.logs_raw FINAL WHERE tracking_id = {t:UUID}",
        {"t": e.tracking_id},
    )
    assert len(rows) == 1 and rows[0]["message"] == "archive me"
    assert rows[0]["ingestion_timestamp"].tzinfo is not None
    assert abs(rows[0]["ingestion_timestamp"] - e.ingestion_timestamp) < timedelta(milliseconds=1)
    assert orjson.loads(rows[0]["fields"]) == e.model_dump(mode="json")["fields"]
    assert orjson.loads(rows[0]["trace"]) == e.model_dump(mode="json")["trace"]
    stages = await store.query(
        "SELECT stage, service, at, duration_ms FROM aiops.pipeline_trace FINAL WHERE tracking_id = {t:UUID}",
        {"t": e.tracking_id},
    )
    assert len(stages) == 1
    assert [(r["stage"], r["service"], r["at"], r["duration_ms"]) for r in stages] == [
        (s.stage, s.service, s.at, s.duration_ms) for s in e.trace
    ]


async def test_archive_skips_bad_lines_and_keeps_the_good_ones(store):
    """Lines that are not JSON, have a value of the wrong type or lack a required field are not
    archived (detection dead-letters them); the good lines of the same message are."""
    from tests.integration.test_bus import entry, line_without_device

    good = [entry(f"good {i}") for i in range(3)]
    no_device = line_without_device("no device")
    bad_time = orjson.loads(encode(entry("bad time")))
    bad_time["timestamp"] = "yesterday-ish"
    bad_stamp = orjson.loads(encode(entry("bad stamp")))
    bad_stamp["trace"] = [{"stage": "ingest", "service": "ingest", "at": "never", "duration_ms": 1}, "junk"]
    lines = [
        encode(good[0]), b"not json at all", orjson.dumps(no_device), encode(good[1]),
        b'{"tracking_id": "not-a-uuid"}', orjson.dumps(bad_time), orjson.dumps(bad_stamp), encode(good[2]),
    ]
    await store.insert_json_lines("logs_raw_in", b"\n".join(lines))
    ids = [str(e.tracking_id) for e in good] + [no_device["tracking_id"], bad_time["tracking_id"], bad_stamp["tracking_id"]]
    archived = await store.query(
        "SELECT message FROM aiops.logs_raw FINAL WHERE toString(tracking_id) IN {ids:Array(String)} ORDER BY message",
        {"ids": ids},
    )
    assert [r["message"] for r in archived] == ["bad stamp", "good 0", "good 1", "good 2"]
    # The unreadable stamps give no trace rows; the line itself is archived as it came.
    traced = await store.query(
        "SELECT toString(tracking_id) AS t FROM aiops.pipeline_trace FINAL WHERE tracking_id = {t:UUID}",
        {"t": bad_stamp["tracking_id"]},
    )
    assert traced == []


async def test_statement_splitter_ignores_comments():
    """Migration files split on `;` at line ends, dropping comment-only pieces."""
    assert _statements("-- a comment;\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n\nSELECT 1;\n") == [
        "CREATE TABLE a (x UInt8) ENGINE = Memory", "SELECT 1",
    ]


async def test_unreachable_server_raises_store_unavailable():
    """An HTTP store that does not answer raises StoreUnavailable (callers degrade or retry)."""
    from aiops_core.nats_server import free_port

    unreachable = Store(f"http://127.0.0.1:{free_port()}", timeout_seconds=3)
    with pytest.raises(StoreUnavailable):
        await unreachable.query("SELECT 1")
    assert await unreachable.ping() is False
    await unreachable.close()
