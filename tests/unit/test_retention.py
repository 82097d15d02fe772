"""Retention logic: watermark levels, which raw-log day goes first, TTL text, and the guard's actions."""

import pytest

from aiops_core import metrics
from aiops_core.policy import DEFAULT_POLICIES_DIR, DiskWatermarks, load_policy
from aiops_core.retention import TTL_COLUMNS, DiskGuard, Watermark, oldest_droppable, ttl_expression, watermark_of

MARKS = DiskWatermarks(high_pct=85, critical_pct=95)


def test_watermark_levels_follow_the_policy_thresholds():
    """Below high is OK, from high on HIGH, from critical on CRITICAL."""
    assert watermark_of(84.9, MARKS) is Watermark.OK
    assert watermark_of(85.0, MARKS) is Watermark.HIGH
    assert watermark_of(94.9, MARKS) is Watermark.HIGH
    assert watermark_of(95.0, MARKS) is Watermark.CRITICAL


def test_the_oldest_day_goes_first_and_today_never():
    """Only eight-digit day partitions before today qualify; the oldest is chosen."""
    assert oldest_droppable(["20261124", "20261120", "20261125", "tuple()"], today="20261125") == "20261120"
    assert oldest_droppable(["20261125"], today="20261125") is None
    assert oldest_droppable(["2026112'; DROP", "all"], today="20261125") is None


def test_ttl_expression_formats_validated_days_for_known_columns_only():
    """The TTL is toDateTime(column) + N days; an unknown column is refused."""
    assert ttl_expression("ingestion_timestamp", 14) == "toDateTime(ingestion_timestamp) + toIntervalDay(14)"
    with pytest.raises(ValueError):
        ttl_expression("x) + 1; DROP TABLE y --", 1)


def test_every_retention_policy_entry_has_a_table():
    """Each ttl_days entry of retention.yaml is applied to at least one table."""
    policy = load_policy(DEFAULT_POLICIES_DIR).retention
    assert set(type(policy.ttl_days).model_fields) == {entry for entry, _ in TTL_COLUMNS.values()}


class FakeStore:
    def __init__(self, partitions):
        self.partitions = partitions
        self.commands = []

    async def query(self, sql, params=None):
        return [{"partition_id": p} for p in self.partitions]

    async def scalar(self, sql, params=None):
        return "20261125"

    async def command(self, sql, params=None):
        self.commands.append(sql)


def guard_at(used: float, store: FakeStore) -> DiskGuard:
    async def read():
        return used

    return DiskGuard(store, MARKS, read_used_pct=read)


async def test_below_high_nothing_is_dropped_and_raw_logs_are_archived():
    """At 50 % the guard only reports: no DDL, archiving on, gauge at 0."""
    store = FakeStore(["20261101", "20261125"])
    guard = guard_at(50.0, store)
    assert await guard.check() is Watermark.OK
    assert store.commands == [] and guard.archive_raw_logs
    assert metrics.DISK_WATERMARK._value.get() == 0 and metrics.STORE_DISK_USED._value.get() == 50.0


async def test_above_high_the_oldest_raw_log_day_is_dropped_but_archiving_goes_on():
    """At 90 % one DROP PARTITION of the oldest day per check; raw logs are still archived."""
    store = FakeStore(["20261124", "20261101", "20261125"])
    guard = guard_at(90.0, store)
    dropped_before = metrics.RETENTION_DROPPED._value.get()
    assert await guard.check() is Watermark.HIGH
    assert store.commands == ["ALTER TABLE aiops.logs_raw DROP PARTITION ID '20261101'"]
    assert guard.archive_raw_logs
    assert metrics.RETENTION_DROPPED._value.get() == dropped_before + 1


async def test_above_critical_raw_logs_stop_being_archived_until_the_disk_recovers():
    """At 97 % archiving stops; back at 60 % it resumes."""
    store = FakeStore(["20261125"])
    readings = iter([97.0, 60.0])

    async def read():
        return next(readings)

    guard = DiskGuard(store, MARKS, read_used_pct=read)
    assert await guard.check() is Watermark.CRITICAL and not guard.archive_raw_logs
    assert metrics.DISK_WATERMARK._value.get() == 2
    assert await guard.check() is Watermark.OK and guard.archive_raw_logs
