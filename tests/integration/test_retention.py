"""Retention on the real ClickHouse engine (chDB): TTLs from retention.yaml on the tables, rows
past them gone after a merge, the high watermark dropping the oldest raw-log day and the critical
one stopping the archive.

Each check runs in its own process on its own chDB directory: it changes TTLs and drops
partitions, which must never touch the chDB directory the other tests of this session share."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.integration


def run_isolated(check: str, tmp_path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", f"import asyncio, sys; from tests.integration.test_retention import {check}; "
                               f"print(__import__('json').dumps(asyncio.run({check}(sys.argv[1]))))",
         str(tmp_path / "chdb")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def log_row(tracking_id: str, at) -> list:
    return [tracking_id, "ms-aurora", "fw-01", "fortigate", "info", "retention probe", "", "syslog", at, at, "{}", "[]"]


LOG_COLUMNS = ["tracking_id", "ship_id", "device_id", "service", "level", "message", "host", "source",
               "timestamp", "ingestion_timestamp", "fields", "trace"]


async def ttl_check(directory: str) -> dict:
    from aiops_core.policy import DEFAULT_POLICIES_DIR, load_policy
    from aiops_core.retention import apply_ttls
    from aiops_core.store import Store

    store = Store(f"chdb:///{directory}")
    await store.start()
    try:
        retention = load_policy(DEFAULT_POLICIES_DIR).retention
        first = await apply_ttls(store, retention)
        again = await apply_ttls(store, retention)
        changed = await apply_ttls(store, retention.model_copy(update={
            "ttl_days": retention.ttl_days.model_copy(update={"logs_raw": 3})}))
        engines = {r["name"]: r["engine_full"] for r in await store.query(
            "SELECT name, engine_full FROM system.tables WHERE database = 'aiops'")}
        from aiops_core.models import utc_now

        now = utc_now()
        old, fresh = str(uuid.uuid4()), str(uuid.uuid4())
        await store.insert("logs_raw", LOG_COLUMNS, [log_row(old, now - timedelta(days=5)), log_row(fresh, now)])
        await store.command("OPTIMIZE TABLE aiops.logs_raw FINAL")
        left = [r["t"] for r in await store.query("SELECT toString(tracking_id) AS t FROM aiops.logs_raw")]
        return {"first": first, "again": again, "changed": changed, "engines": engines, "left": left,
                "old": old, "fresh": fresh}
    finally:
        await store.close()


async def watermark_check(directory: str) -> dict:
    from types import SimpleNamespace

    from aiops_core.bus import Incoming, encode
    from aiops_core.models import LogEntry, new_tracking_id, utc_now
    from aiops_core.policy import DEFAULT_POLICIES_DIR, load_policy
    from aiops_core.retention import DiskGuard
    from aiops_core.store import Store
    from services.ingest.app import IngestRole

    store = Store(f"chdb:///{directory}")
    await store.start()
    try:
        policy = load_policy(DEFAULT_POLICIES_DIR)
        now = utc_now()
        days = [now - timedelta(days=3), now - timedelta(days=2), now]
        await store.insert("logs_raw", LOG_COLUMNS, [log_row(str(uuid.uuid4()), at) for at in days])
        readings = iter([90.0, 97.0])

        async def used_pct() -> float:
            return next(readings)

        role = IngestRole(listen_syslog=False)
        role.runtime = type("R", (), {"store": store})()
        role.disk = DiskGuard(store, policy.retention.disk_watermarks, read_used_pct=used_pct)
        await role.disk.check()
        after_high = sorted(r["d"] for r in await store.query(
            "SELECT DISTINCT toString(toDate(ingestion_timestamp)) AS d FROM aiops.logs_raw"))
        await role.disk.check()
        entry = LogEntry(tracking_id=new_tracking_id(), ship_id="ms-aurora", device_id="fw-01", level="info",
                         message="shed at critical", timestamp=now, ingestion_timestamp=now, source="syslog")
        # The archiver takes logs.raw messages undecoded (ConsumerSpec.decode).
        await role.archive_batch([Incoming("logs.raw", None, raw=SimpleNamespace(data=encode(entry)))])
        shed = await store.scalar("SELECT count() FROM aiops.logs_raw WHERE message = 'shed at critical'")
        return {"days": [str(d.date()) for d in days], "after_high": after_high, "shed_rows": shed,
                "archiving": role.disk.archive_raw_logs}
    finally:
        await store.close()


def test_ttls_come_from_retention_yaml_and_expire_rows(tmp_path):
    """Every table gets its TTL once, a policy change re-applies only what changed, and a raw log
    older than its TTL is gone after a merge while a fresh one stays."""
    result = run_isolated("ttl_check", tmp_path)
    assert set(result["first"]) == {"logs_raw", "anomalies", "incidents", "incident_insights", "incident_events",
                                    "pipeline_trace", "llm_cache", "actions", "approvals", "audit_log"}
    assert result["again"] == []
    assert result["changed"] == ["logs_raw"]
    engines = result["engines"]
    assert "TTL toDateTime(ingestion_timestamp) + toIntervalDay(3)" in engines["logs_raw"]
    assert "ttl_only_drop_parts = 1" in engines["logs_raw"]
    assert "TTL toDateTime(at) + toIntervalDay(730)" in engines["audit_log"]
    assert "TTL toDateTime(updated_at) + toIntervalDay(365)" in engines["incidents"]
    assert result["left"] == [result["fresh"]]


def test_high_watermark_drops_the_oldest_day_and_critical_stops_archiving(tmp_path):
    """At 90 % the oldest raw-log day is dropped (the others stay); at 97 % a batch is not archived."""
    result = run_isolated("watermark_check", tmp_path)
    assert result["after_high"] == result["days"][1:]
    assert result["archiving"] is False
    assert result["shed_rows"] == 0

