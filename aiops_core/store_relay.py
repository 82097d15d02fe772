"""Reads of the embedded store for the node's worker processes.

chDB locks its data directory to the one process that opened it, so the embedded node's workers
(the syslog listener and anomaly-detection, which run apart to use the second core: see
services/workers.py) cannot open the store themselves. What they read of it (the device
registry, the tokens, the disk figures) they ask the node for, over its own NATS, by request and
reply on RELAY_SUBJECT; the node runs the same parameterized query on its store and answers.

Only reads cross the relay: a role that writes to the store runs in the node's process. The
subject is local to the node: it is denied on the leaf link to shore (services/shore_sync/leaf.py).
Values that JSON cannot carry as themselves (datetimes, dates, UUIDs) travel tagged and come back
as the same types, so a worker reads the rows a role in the node would.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import orjson
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from aiops_core.logging import StructuredLogger
from aiops_core.store import Store, StoreUnavailable, first_value

log = StructuredLogger.get_logger(__name__, service="store-relay")

RELAY_SUBJECT = "aiops.node.store"
_QUEUE = "store-relay"
# A worker's query waits this long for the node; the store's own timeout is shorter.
REQUEST_TIMEOUT_SECONDS = 15.0
# Tags of the values JSON cannot carry as themselves.
_DATETIME, _DATE, _UUID = "$datetime", "$date", "$uuid"
# ClickHouse runs one statement per query, so its first word says whether it only reads.
_READ = re.compile(r"\s*(?:SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS)\b", re.IGNORECASE)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, date):
        return {_DATE: value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {_UUID: str(value)}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_encode(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == _DATETIME:
                return datetime.fromisoformat(inner)
            if key == _DATE:
                return date.fromisoformat(inner)
            if key == _UUID:
                return uuid.UUID(inner)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class StoreRelay:
    """The node's side: answers workers' reads with its store."""

    def __init__(self, nc: NatsClient, store: Store, subject: str = RELAY_SUBJECT) -> None:
        self.nc = nc
        self.store = store
        self.subject = subject
        self._subscription = None

    async def start(self) -> None:
        self._subscription = await self.nc.subscribe(self.subject, queue=_QUEUE, cb=self._answer)

    async def stop(self) -> None:
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except NatsError:
                pass  # the connection is already closing

    async def _answer(self, msg: Msg) -> None:
        try:
            reply = {"rows": await self._run(orjson.loads(msg.data))}
        except Exception as exc:  # noqa: BLE001 - the worker gets the reason, the node keeps serving
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        try:
            await msg.respond(orjson.dumps(_encode(reply)))
        except NatsError as exc:
            log.warning("store_relay_reply_failed", error=repr(exc))

    async def _run(self, request: Any) -> Any:
        if not isinstance(request, dict):
            raise ValueError("a relay request is a JSON object")
        operation = request.get("op")
        if operation == "ping":
            return await self.store.ping()
        if operation == "query":
            sql, parameters = request.get("sql"), request.get("parameters") or {}
            if not isinstance(sql, str) or not isinstance(parameters, dict):
                raise ValueError("query needs sql (a string) and parameters (an object)")
            if not _READ.match(sql):
                raise ValueError("only SELECT, WITH, SHOW, DESCRIBE and EXISTS statements are relayed")
            return await self.store.query(sql, _decode(parameters))
        raise ValueError(f"unknown relay operation {operation!r}: only reads are relayed")


class RelayStore:
    """A worker's store: the reads of `Store`, answered by the node over NATS.

    `insert` and `command` refuse: a role that writes runs in the node's process, where the
    store is."""

    def __init__(self, nc: NatsClient, subject: str = RELAY_SUBJECT, *, timeout_seconds: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self.nc = nc
        self.subject = subject
        self.timeout_seconds = timeout_seconds
        self.dsn = f"relay:{subject}"

    async def _request(self, body: dict[str, Any]) -> Any:
        try:
            msg = await self.nc.request(self.subject, orjson.dumps(_encode(body)), timeout=self.timeout_seconds)
        except (NatsError, asyncio.TimeoutError) as exc:
            raise StoreUnavailable(f"store relay: {exc!r}") from exc
        reply = _decode(orjson.loads(msg.data))
        if "error" in reply:
            raise StoreUnavailable(f"store relay: {reply['error']}")
        return reply["rows"]

    async def start(self, timeout: float = 60.0) -> None:
        """Waits for the node to answer (it starts its relay before its workers)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                if await self._request({"op": "ping"}):
                    return
            except StoreUnavailable:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise StoreUnavailable(f"store relay: no answer on {self.subject} within {timeout:.0f} s")
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        try:
            return bool(await self._request({"op": "ping"}))
        except StoreUnavailable:
            return False

    async def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return await self._request({"op": "query", "sql": sql, "parameters": parameters or {}})

    async def scalar(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return first_value(await self.query(sql, parameters))

    async def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        raise StoreUnavailable("a worker reads the store through the relay and cannot write to it")

    async def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, urgent: bool = False
    ) -> None:
        raise StoreUnavailable("a worker reads the store through the relay and cannot write to it")
