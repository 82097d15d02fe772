"""Retention (policies/retention.yaml): TTLs on the store's tables, and the disk watermarks.

- **TTLs** are set at start (`apply_ttls`) on every table the policy names, and changed only when
  the policy changed (a MODIFY TTL rewrites the table's parts). Raw logs and trace stamps live in
  day partitions and drop whole parts (`ttl_only_drop_parts`).
- **Disk watermarks** (`DiskGuard`, run by the ingest role, which owns the raw-log archive): the
  store's fullest disk is checked every minute. Above `high_pct`: a warning, the gauge, and the
  oldest raw-log day is dropped ahead of its TTL (one per check, never today's). Above
  `critical_pct`: also no raw log is archived any more (counted as shed) until the disk is back
  under it, so incidents, their evidence and the audit log, worth far more per byte, can still be
  written. Raw logs are the lowest-value data on board: they are the bulk of the disk, they have
  already been through detection, and the LOGS stream keeps the last 24 h of them anyway.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from enum import IntEnum

from aiops_core import metrics
from aiops_core.logging import StructuredLogger
from aiops_core.policy import DiskWatermarks, RetentionPolicy
from aiops_core.store import DATABASE, Store, StoreUnavailable

log = StructuredLogger.get_logger(__name__, service="retention")

# Table → (the retention.yaml entry it follows, the time its rows age by). Insights are part of
# the incident record and follow incidents; an incident's rows age from their last update.
TTL_COLUMNS: dict[str, tuple[str, str]] = {
    "logs_raw": ("logs_raw", "ingestion_timestamp"),
    "anomalies": ("anomalies", "detected_at"),
    "incidents": ("incidents", "updated_at"),
    "incident_insights": ("incidents", "stored_at"),
    "incident_events": ("incident_events", "at"),
    "pipeline_trace": ("pipeline_trace", "at"),
    "llm_cache": ("llm_cache", "created_at"),
    "actions": ("actions", "updated_at"),
    "approvals": ("approvals", "at"),
    "audit_log": ("audit_log", "at"),
}
# Day-partitioned tables whose parts expire whole.
DROP_WHOLE_PARTS = ("logs_raw", "pipeline_trace")
_DAY_PARTITION = re.compile(r"^\d{8}$")


def ttl_expression(column: str, days: int) -> str:
    """DDL cannot take bound parameters, so the TTL is formatted into the statement: `column` is
    one of the fixed names above and `days` an integer the policy validated (>= 1), formatted as
    an integer again here, so nothing from outside the code reaches the SQL text."""
    if column not in {c for _, c in TTL_COLUMNS.values()}:
        raise ValueError(f"not a TTL column: {column!r}")
    return f"toDateTime({column}) + toIntervalDay({int(days)})"


async def apply_ttls(store: Store, retention: RetentionPolicy) -> list[str]:
    """Sets each table's TTL from the policy where it differs; returns the tables altered."""
    rows = await store.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String}", {"db": DATABASE}
    )
    engines = {row["name"]: row["engine_full"] for row in rows}
    altered = []
    for table, (entry, column) in TTL_COLUMNS.items():
        if table not in engines:
            continue
        expression = ttl_expression(column, getattr(retention.ttl_days, entry))
        if f"TTL {expression}" in engines[table]:
            continue
        await store.command(f"ALTER TABLE {DATABASE}.{table} MODIFY TTL {expression}")
        if table in DROP_WHOLE_PARTS:
            await store.command(f"ALTER TABLE {DATABASE}.{table} MODIFY SETTING ttl_only_drop_parts = 1")
        altered.append(table)
    if altered:
        log.info("retention_ttls_applied", tables=altered)
    return altered


class Watermark(IntEnum):
    OK = 0
    HIGH = 1
    CRITICAL = 2


def watermark_of(used_pct: float, marks: DiskWatermarks) -> Watermark:
    if used_pct >= marks.critical_pct:
        return Watermark.CRITICAL
    if used_pct >= marks.high_pct:
        return Watermark.HIGH
    return Watermark.OK


def oldest_droppable(partitions: list[str], today: str) -> str | None:
    """The oldest raw-log day partition that is not today's, if any."""
    days = sorted(p for p in partitions if _DAY_PARTITION.match(p) and p < today)
    return days[0] if days else None


async def store_disk_used_pct(store: Store) -> float:
    """Use of the store's fullest disk (system.disks: the same for chDB and a server)."""
    rows = await store.query(
        "SELECT max(1 - free_space / total_space) * 100 AS used FROM system.disks WHERE total_space > 0"
    )
    return float(rows[0]["used"]) if rows and rows[0]["used"] is not None else 0.0


class DiskGuard:
    """Holds the current watermark for the archiver and acts on it (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        marks: DiskWatermarks,
        *,
        read_used_pct: Callable[[], Awaitable[float]] | None = None,
    ) -> None:
        self.store = store
        self.marks = marks
        self.read_used_pct = read_used_pct or (lambda: store_disk_used_pct(store))
        self.level = Watermark.OK

    @property
    def archive_raw_logs(self) -> bool:
        return self.level < Watermark.CRITICAL

    async def check(self) -> Watermark:
        used = await self.read_used_pct()
        level = watermark_of(used, self.marks)
        metrics.STORE_DISK_USED.set(used)
        metrics.DISK_WATERMARK.set(int(level))
        if level != self.level:
            log_at = log.info if level is Watermark.OK else log.error if level is Watermark.CRITICAL else log.warning
            log_at("disk_watermark", level=level.name.lower(), used_pct=round(used, 1),
                   high_pct=self.marks.high_pct, critical_pct=self.marks.critical_pct,
                   archiving_raw_logs=level < Watermark.CRITICAL)
        self.level = level
        if level >= Watermark.HIGH:
            await self._drop_oldest_raw_logs()
        return level

    async def _drop_oldest_raw_logs(self) -> None:
        rows = await self.store.query(
            "SELECT DISTINCT partition_id FROM system.parts "
            "WHERE database = {db:String} AND table = 'logs_raw' AND active",
            {"db": DATABASE},
        )
        today = (await self.store.scalar("SELECT toString(toYYYYMMDD(now64(6, 'UTC')))")) or ""
        oldest = oldest_droppable([row["partition_id"] for row in rows], today)
        if oldest is None:
            return
        # A partition id is not a bindable parameter in DDL: it is formatted only after matching
        # eight digits (oldest_droppable), and it came from system.parts.
        await self.store.command(f"ALTER TABLE {DATABASE}.logs_raw DROP PARTITION ID '{oldest}'")
        metrics.RETENTION_DROPPED.inc()
        log.warning("raw_logs_dropped_early", partition=oldest, reason="disk above the high watermark")

    async def run(self, stop: asyncio.Event, every_seconds: float = 60.0) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except StoreUnavailable as exc:
                log.warning("disk_watermark_check_failed", error=repr(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_seconds)
            except asyncio.TimeoutError:
                pass
