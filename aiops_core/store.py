"""The store: ClickHouse through clickhouse-connect's synchronous client.

- `chdb:///<dir>` runs the ClickHouse engine in-process (the embedded node); `http://...` talks
  to a server (compose). Same SQL either way.
- Queries take `{name:Type}` parameters only; no value is ever formatted into SQL text.
- Every call runs on the store's own worker threads, never on the event loop, each thread with its
  own client. chDB locks its data directory to one process, and clickhouse-connect's chDB backend
  runs one call at a time: for the embedded engine, calls take turns (`EngineTurns`), and an
  urgent one (the incident row that ends the fast path) has a thread of its own and goes next,
  ahead of the bulk inserts and reads already waiting; it still waits for the call under way.
- Versioned migrations in `aiops_core/migrations/NNNN_name.sql` are applied once, in order.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import partial
from importlib import resources
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from aiops_core import metrics
from aiops_core.errors import DependencyUnavailable
from aiops_core.logging import StructuredLogger

log = StructuredLogger.get_logger(__name__, service="store")

DATABASE = "aiops"
MIGRATE_TIMEOUT_SECONDS = 180.0
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
STORE_THREADS = 4


# How the engine reads NDJSON rows (`insert_json_lines`).
_JSON_LINES_SETTINGS = {
    "input_format_skip_unknown_fields": 1,
    "input_format_json_read_objects_as_strings": 1,
    "input_format_json_read_arrays_as_strings": 1,
    "date_time_input_format": "best_effort",
    # Any number of unreadable lines is skipped; the rest are written.
    "input_format_allow_errors_num": 1_000_000_000,
    "input_format_allow_errors_ratio": 1,
}


class StoreUnavailable(RuntimeError):
    """A store call failed; callers degrade or retry."""


class StoreDown(StoreUnavailable, DependencyUnavailable):
    """The store itself is out (unreachable, timing out, out of disk or memory), as opposed to
    refusing this query or these rows: the bus holds such a batch and retries it in place, where
    a bad row would block its consumer for ever and goes the bounded retry-then-DLQ way instead."""


# ClickHouse error codes that say the server is out, not that the query or the data is wrong:
# TIMEOUT_EXCEEDED, SOCKET_TIMEOUT, NETWORK_ERROR, TOO_MANY_SIMULTANEOUS_QUERIES, MEMORY_LIMIT_EXCEEDED,
# NOT_ENOUGH_SPACE, TOO_MANY_PARTS, ALL_CONNECTION_TRIES_FAILED.
_OUTAGE_CODES = frozenset({159, 209, 210, 202, 241, 243, 252, 279})
_CODE = re.compile(r"\bCode: (\d+)\b")


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError, OperationalError)):
        return True
    match = _CODE.search(str(exc))
    return bool(match) and int(match.group(1)) in _OUTAGE_CODES


def first_value(rows: list[dict[str, Any]]) -> Any:
    """A scalar query's answer: the first column of the first row, None without rows."""
    return next(iter(rows[0].values())) if rows else None


class EngineTurns:
    """One engine call at a time, urgent calls first (a call under way is never interrupted)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0

    @contextmanager
    def turn(self, urgent: bool) -> Iterator[None]:
        with self._changed:
            self._urgent_waiting += urgent
            while self._busy or (not urgent and self._urgent_waiting):
                self._changed.wait()
            self._urgent_waiting -= urgent
            self._busy = True
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()


class Store:
    def __init__(self, dsn: str, *, timeout_seconds: float = 10.0) -> None:
        self.dsn = dsn
        self.timeout_seconds = timeout_seconds
        self._executor = ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="store")
        # Urgent calls never queue behind the pool's waiting ones for a thread.
        self._urgent_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-urgent")
        # A server runs calls side by side; the embedded engine one at a time.
        self._turns = EngineTurns() if dsn.startswith("chdb:") else None
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = clickhouse_connect.get_client(dsn=self.dsn)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    async def _run(self, operation: str, fn, *args, timeout: float | None = None, urgent: bool = False) -> Any:
        loop = asyncio.get_running_loop()
        executor = self._urgent_executor if urgent else self._executor
        call = partial(self._in_turn, urgent, fn, *args) if self._turns else partial(fn, *args)
        try:
            return await asyncio.wait_for(loop.run_in_executor(executor, call), timeout=timeout or self.timeout_seconds)
        except Exception as exc:
            metrics.STORE_ERRORS.labels(operation).inc()
            error = StoreDown if _is_outage(exc) else StoreUnavailable
            raise error(f"{operation} failed: {exc}") from exc

    def _in_turn(self, urgent: bool, fn, *args) -> Any:
        assert self._turns is not None
        with self._turns.turn(urgent):
            return fn(*args)

    async def start(self) -> None:
        # Opening the engine and creating every table can take a while on a busy edge server.
        await self._run("migrate", self._migrate, timeout=MIGRATE_TIMEOUT_SECONDS)
        metrics.STORE_UP.set(1)

    async def close(self) -> None:
        def close_all() -> None:
            with self._lock:
                for client in self._clients:
                    try:
                        client.close()
                    except Exception:  # noqa: BLE001 - closing anyway
                        pass
                self._clients.clear()

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, close_all)
        finally:
            self._executor.shutdown(wait=True)
            self._urgent_executor.shutdown(wait=True)

    async def ping(self) -> bool:
        try:
            await self._run("ping", lambda: self._client().command("SELECT 1"))
            metrics.STORE_UP.set(1)
            return True
        except StoreUnavailable:
            metrics.STORE_UP.set(0)
            return False

    async def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts, with every datetime timezone-aware UTC."""

        def run() -> list[dict[str, Any]]:
            result = self._client().query(sql, parameters=parameters or {})
            names = result.column_names
            return [
                {name: _aware(value) for name, value in zip(names, row)} for row in result.result_rows
            ]

        return await self._run("query", run)

    async def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return first_value(await self.query(sql, parameters))

    async def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        await self._run("command", lambda: self._client().command(sql, parameters=parameters or {}))

    async def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, urgent: bool = False
    ) -> None:
        """`urgent`: someone is waiting for exactly these rows (the fast path's end): they go next."""
        if not rows:
            return
        await self._run(f"insert:{table}", self._insert, table, tuple(columns), list(rows), urgent=urgent)

    async def insert_json_lines(self, table: str, data: bytes) -> int:
        """NDJSON rows read by the engine itself, with no Python per row; the rows it read back.

        A line the engine cannot read (not JSON, a value of the wrong type) is skipped, not an
        error: the lines come from the bus, where the consumer that validates them sends such a
        line to the DLQ, and one bad line must not cost the batch's good ones. Nested objects and
        arrays are kept as their JSON text; fields the table does not have are ignored."""
        if not data:
            return 0
        return await self._run(f"insert:{table}", self._insert_json_lines, table, data)

    def _insert_json_lines(self, table: str, data: bytes) -> int:
        summary = self._client().raw_insert(
            f"{DATABASE}.{table}", None, data, settings=_JSON_LINES_SETTINGS, fmt="JSONEachRow"
        )
        return int(summary.summary.get("written_rows", 0))

    def _insert(self, table: str, columns: tuple[str, ...], rows: list[Sequence[Any]]) -> None:
        # The insert context (column types) is looked up once per thread and table, not per insert:
        # that lookup is a query of its own, as slow as a small insert.
        contexts = getattr(self._local, "insert_contexts", None)
        if contexts is None:
            contexts = self._local.insert_contexts = {}
        client = self._client()
        context = contexts.get((table, columns))
        if context is None:
            context = contexts[(table, columns)] = client.create_insert_context(f"{DATABASE}.{table}", list(columns))
        client.insert(data=rows, context=context)

    def _migrate(self) -> None:
        client = self._client()
        client.command(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        client.command(
            f"CREATE TABLE IF NOT EXISTS {DATABASE}.schema_migrations "
            "(version UInt32, name String, applied_at DateTime64(3, 'UTC')) "
            "ENGINE = ReplacingMergeTree ORDER BY version"
        )
        applied = {row[0] for row in client.query(f"SELECT version FROM {DATABASE}.schema_migrations").result_rows}
        for version, name, sql in _migrations():
            if version in applied:
                continue
            for statement in _statements(sql):
                client.command(statement)
            client.insert(
                f"{DATABASE}.schema_migrations",
                [[version, name, datetime.now(timezone.utc)]],
                column_names=["version", "name", "applied_at"],
            )
            log.info("migration_applied", version=version, name=name)


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("aiops_core.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def _statements(sql: str) -> list[str]:
    """Splits a migration file on `;` at line ends, dropping comment-only pieces."""
    pieces = re.split(r";\s*(?:\n|$)", sql)
    statements = []
    for piece in pieces:
        body = "\n".join(line for line in piece.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            statements.append(body)
    return statements


# What a DateTime64 column, and so a DateTime64 query parameter, can hold.
MIN_TIME = datetime(1900, 1, 1, tzinfo=timezone.utc)
MAX_TIME = datetime(2299, 12, 31, tzinfo=timezone.utc)


def clamp_time(value: datetime) -> datetime:
    """A time from a client as a query parameter: naive is UTC, and outside DateTime64's range it is
    moved to the range's edge (a bound before 1900 or after 2299 selects the same rows as the edge),
    so a far-off date in a filter is an answer, not a server error."""
    aware = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    return min(max(aware, MIN_TIME), MAX_TIME)


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value
