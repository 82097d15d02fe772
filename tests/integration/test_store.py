"""The store against the real ClickHouse engine (chDB): migrations, parameters, time zones."""

from datetime import timedelta

import pytest

from aiops_core.store import Store, StoreUnavailable, _migrations, _statements
from services.ingest import queries as ingest_queries

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
    """An archived log reads back with aware UTC times; writing it twice leaves one row (FINAL)."""
    from tests.integration.test_bus import entry

    e = entry("archive me")
    await store.insert("logs_raw", ingest_queries.LOGS_RAW_COLUMNS, [ingest_queries.archive_row(e)])
    await store.insert("logs_raw", ingest_queries.LOGS_RAW_COLUMNS, [ingest_queries.archive_row(e)])
    rows = await store.query(
        "SELECT message, ingestion_timestamp FROM aiops.logs_raw FINAL WHERE tracking_id = {t:UUID}", {"t": e.tracking_id}
    )
    assert len(rows) == 1 and rows[0]["message"] == "archive me"
    assert rows[0]["ingestion_timestamp"].tzinfo is not None
    assert abs(rows[0]["ingestion_timestamp"] - e.ingestion_timestamp) < timedelta(milliseconds=1)


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
