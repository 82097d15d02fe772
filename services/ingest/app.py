"""The ingest role's wiring: syslog over UDP and TCP, `POST /api/v3/logs` and `/metrics`
samples, publishing on `logs.raw` / `telemetry.metrics`, and the archiver of `logs.raw`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Annotated, Any, NamedTuple

import orjson
from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from aiops_core import metrics
from aiops_core.auth import Identity, IngestIdentity
from aiops_core.bus import LINES_PER_MESSAGE, LOGS_RAW, TELEMETRY, Incoming, Outgoing, message_lines, pack_lines
from aiops_core.devices import LOAD_DEVICES_SQL, DeviceRegistry, device_from_row
from aiops_core.logging import StructuredLogger
from aiops_core.models import LogEntry, MetricSample, utc_now
from aiops_core.retention import DiskGuard
from aiops_core.runtime import Runtime
from services.ingest.buffer import DiskBuffer
from services.ingest.handlers import (
    IDEMPOTENCY_KEY,
    InputError,
    LogIn,
    MetricIn,
    idempotent_tracking_ids,
    log_from_syslog,
    parse_batch,
    stamp_log,
    stamp_metric,
)
from services.ingest.syslog import FramingError, OctetFrameDecoder, SyslogParseError, parse_syslog

log = StructuredLogger.get_logger(__name__, service="ingest")

MAX_BODY_BYTES = 16 * 1024 * 1024
# logs.raw messages archived per insert (each up to LINES_PER_MESSAGE lines): with the second of
# lingering, a few inserts a second at 1,000 lines/s (5-10 lines a message), and at most ~8,000
# lines (8 MiB of messages) in hand when a backlog is worked off.
ARCHIVE_BATCH = 32
# Syslog frames wait here for the batch publisher, which parses them; bounded so a flood cannot
# exhaust memory. Frames, not parsed entries: a parsed LogEntry is about 4 KB of Python objects,
# and 50,000 of them took the syslog worker from 75 to 270 MB while the node fell behind.
SYSLOG_QUEUE_LIMIT = 50_000
# Frames parsed between two yields to the event loop (the listener reads meanwhile).
SYSLOG_PARSE_SLICE = 256
# While the disk buffer holds lines, a replay is tried this often (and at once when NATS reconnects).
BUFFER_RETRY_SECONDS = 1.0
# How long the first syslog line of a message waits for others to share it. Each logs.raw
# message costs a JetStream store, a delivery to each consumer and their acks, whatever its size:
# at 1,000 lines/s a few milliseconds pack 5-10 lines a message (measured), and under heavier load
# the publish's own round trip fills messages up to LINES_PER_MESSAGE.
SYSLOG_LINGER_SECONDS = 0.003
# Lines taken from the queue per publish (several messages, published concurrently).
SYSLOG_PUBLISH_LINES = 4 * LINES_PER_MESSAGE


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY.pattern,
    description="Resending a batch with the same key (within 10 minutes) stores it once: its lines "
    "get the same tracking ids, which JetStream deduplicates.",
)]


class ReceivedFrame(NamedTuple):
    """A syslog frame as it came in, waiting to be parsed."""

    data: bytes
    peer: str | None
    source: str
    received_at: datetime
    started: float


class IngestRole:
    name = "ingest"

    def __init__(self, *, listen_syslog: bool = True) -> None:
        self.listen_syslog = listen_syslog
        self.runtime: Runtime | None = None
        self.registry = DeviceRegistry()
        self.queue: asyncio.Queue[ReceivedFrame] = asyncio.Queue(maxsize=SYSLOG_QUEUE_LIMIT)
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.AbstractServer | None = None
        self.buffer: DiskBuffer | None = None
        self.disk: DiskGuard | None = None

    async def start(self, runtime: Runtime) -> None:
        self.runtime = runtime
        listens = self.listen_syslog and runtime.settings.syslog_listener
        await self.reload_registry()
        runtime.services["ingest"] = self
        if listens:
            # The journal belongs to the one process that listens (the embedded node's syslog
            # worker, or the ingest container): two replaying one directory would race.
            # Left over from a stop or crash while NATS was down: replayed first, in order.
            self.buffer = DiskBuffer(runtime.settings.data_dir / "ingest-buffer", runtime.settings.ingest_buffer_max_bytes)
            metrics.INGEST_BUFFERED.set(self.buffer.lines)
            runtime.spawn(self._publish_syslog_batches(), "ingest:syslog-publisher")
        if runtime.settings.archive_enabled:
            # The watermarks guard the archive's disk, so they live where the archive is written.
            self.disk = DiskGuard(runtime.store, runtime.policy.retention.disk_watermarks)
            runtime.spawn(self.disk.run(runtime.stop), "ingest:disk-watermarks")
            # Archiving costs per insert more than per line, and nobody waits for it: a batch waits
            # up to a second to fill, so at 1,000 lines/s the archive takes two inserts a second,
            # not one per handful of lines, and leaves the store to the fast path.
            runtime.consume("ingest-archiver", self.archive_batch, batch=ARCHIVE_BATCH, linger_seconds=1.0)
        if listens:
            await self._listen(runtime.settings.syslog_host, runtime.settings.syslog_port)

    async def stop(self) -> None:
        if self._udp_transport:
            self._udp_transport.close()
        if self._tcp_server:
            # close() stops accepting; waiting for open senders to hang up could take forever.
            self._tcp_server.close()
        await self._drain_queue()

    async def reload_registry(self) -> None:
        assert self.runtime
        rows = await self.runtime.store.query(LOAD_DEVICES_SQL)
        self.registry = DeviceRegistry.of([device_from_row(r) for r in rows])

    # --- syslog -----------------------------------------------------------------------------
    async def _listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: _SyslogUdp(self), local_addr=(host, port)
        )
        self._tcp_server = await asyncio.start_server(self._serve_tcp, host, port, limit=1 << 20)
        log.info("syslog_listening", host=host, port=port, transports=["udp", "tcp"])

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        peer_host = peer[0] if peer else None
        decoder = OctetFrameDecoder()
        try:
            while chunk := await reader.read(65536):
                for frame in decoder.feed(chunk):
                    await self.accept_syslog(frame, peer_host, wait=True)
            for frame in decoder.flush():
                await self.accept_syslog(frame, peer_host, wait=True)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def parse_frame(
        self, frame: bytes, peer: str | None, source: str, tracking_id: str | None = None,
        *, received_at: datetime | None = None, started: float | None = None,
    ) -> LogEntry:
        """One syslog frame to a stamped LogEntry; raises SyslogParseError/ValueError if bad.
        `received_at`/`started`: when the frame came in, if it waited before being parsed (the
        ingest stamp's duration then includes that wait)."""
        assert self.runtime
        started = time.perf_counter() if started is None else started
        received_at = utc_now() if received_at is None else received_at
        parsed = parse_syslog(frame, received_at=received_at)
        return log_from_syslog(
            parsed, peer=peer, registry=self.registry, default_ship_id=self.runtime.settings.ship_id,
            received_at=received_at, started=started, source=source, tracking_id=tracking_id,
        )

    async def accept_syslog(
        self, frame: bytes | FramingError, peer: str | None, source: str = "syslog", *, wait: bool = False
    ) -> None:
        """Queues one syslog frame for the publisher, which parses it (`parse_queued`): a bad one
        is counted and dead-lettered there, never fatal. `wait` (TCP): a full queue stops this
        connection's reads, so TCP flow control slows the sender instead of its lines being dropped."""
        if isinstance(frame, FramingError):
            await self._reject(b"", f"framing: {frame.reason}", "framing")
            return
        received = ReceivedFrame(frame, peer, source, utc_now(), time.perf_counter())
        if wait:
            await self.queue.put(received)
            return
        try:
            self.queue.put_nowait(received)
        except asyncio.QueueFull:
            # UDP senders cannot be slowed down; the loss is counted where an operator sees it.
            metrics.INGESTED.labels(source, "overflow").inc()

    async def parse_queued(self, frames: Sequence[ReceivedFrame]) -> list[LogEntry]:
        """The frames taken from the queue, parsed and stamped in order; bad ones dead-lettered."""
        entries: list[LogEntry] = []
        for number, frame in enumerate(frames, 1):
            try:
                entries.append(self.parse_frame(
                    frame.data, frame.peer, frame.source, received_at=frame.received_at, started=frame.started,
                ))
                metrics.INGESTED.labels(frame.source, "accepted").inc()
            except (SyslogParseError, ValueError) as exc:
                await self._reject(frame.data, str(exc), "syslog_parse")
            if number % SYSLOG_PARSE_SLICE == 0:
                await asyncio.sleep(0)
        return entries

    async def _reject(self, data: bytes, reason: str, kind: str) -> None:
        assert self.runtime
        metrics.INGESTED.labels("syslog", "rejected").inc()
        try:
            await self.runtime.bus.dead_letter("syslog", data, reason, kind)
        except Exception as exc:  # noqa: BLE001 - the counter still shows it
            log.warning("dead_letter_failed", reason=reason, error=repr(exc))

    async def _publish_syslog_batches(self) -> None:
        """Publishes queued syslog lines; while NATS is down they go to the disk buffer, which is
        replayed (oldest first) before anything newer is published, so the order is kept."""
        assert self.runtime and self.buffer
        retry_at = 0.0
        while not self.runtime.stop.is_set():
            try:
                first = await asyncio.wait_for(self.queue.get(), timeout=0.5)
            except asyncio.TimeoutError:
                first = None
            if first is not None:
                if self.queue.qsize() < LINES_PER_MESSAGE:
                    await asyncio.sleep(SYSLOG_LINGER_SECONDS)
                frames = [first]
                while len(frames) < SYSLOG_PUBLISH_LINES and not self.queue.empty():
                    frames.append(self.queue.get_nowait())
                batch = await self.parse_queued(frames)
                if batch:
                    await self._publish_or_buffer(batch)
            if not self.buffer.empty and self.runtime.bus.connected and time.monotonic() >= retry_at:
                if not await self._replay_buffer():
                    retry_at = time.monotonic() + BUFFER_RETRY_SECONDS

    async def _publish_or_buffer(self, batch: list[LogEntry]) -> None:
        assert self.runtime and self.buffer
        if self.buffer.empty and self.runtime.bus.connected:
            try:
                await self.publish_logs(batch)
                return
            except Exception as exc:  # noqa: BLE001 - not stored by JetStream: journal it
                log.warning("syslog_publish_failed", count=len(batch), error=repr(exc))
        self._journal(batch)

    def _journal(self, batch: list[LogEntry]) -> None:
        assert self.buffer
        if self.buffer.empty:
            log.warning("ingest_buffering_to_disk", directory=str(self.buffer.directory))
        dropped = self.buffer.append(batch)
        metrics.INGESTED.labels("syslog", "buffered").inc(len(batch) - dropped)
        if dropped:
            # The journal is full (ingest_buffer_max_bytes): the loss is counted and reported.
            metrics.INGESTED.labels("syslog", "dropped").inc(dropped)
            log.error("ingest_buffer_full", dropped=dropped, max_bytes=self.buffer.max_bytes)
        metrics.INGEST_BUFFERED.set(self.buffer.lines)

    async def _replay_buffer(self) -> bool:
        assert self.buffer
        try:
            replayed = await self.buffer.replay(self.publish_logs)
        except Exception as exc:  # noqa: BLE001 - still down: the journal waits for the next try
            log.warning("ingest_buffer_replay_failed", left=self.buffer.lines, error=repr(exc))
            return False
        finally:
            metrics.INGEST_BUFFERED.set(self.buffer.lines)
        log.info("ingest_buffer_replayed", lines=replayed)
        return True

    async def _drain_queue(self) -> None:
        frames = []
        while not self.queue.empty():
            frames.append(self.queue.get_nowait())
        batch = await self.parse_queued(frames)
        if batch:
            # Whatever cannot be published now is journalled for the next start.
            await self._publish_or_buffer(batch)

    async def publish_logs(self, entries: Sequence[LogEntry]) -> None:
        """The lines, several to a logs.raw message (aiops_core/bus.py), stored once published."""
        assert self.runtime
        await self.runtime.bus.publish_many(pack_lines(LOGS_RAW, entries, attrgetter("tracking_id")))

    # --- archive ----------------------------------------------------------------------------
    async def archive_batch(self, items: list[Incoming]) -> list[Sequence[Outgoing] | BaseException]:
        """The batch's logs.raw messages, undecoded, in one insert the engine reads itself: the
        archive rows and the ingest stage's trace rows (migration 0004); the tables dedup
        redeliveries. Bad lines are skipped here and dead-lettered by detection."""
        assert self.runtime
        lines = sum(1 for item in items for _ in message_lines(item.raw.data))
        if self.disk is not None and not self.disk.archive_raw_logs:
            # The store's disk is above the critical watermark: raw logs give way so incidents
            # and the audit log can still be written (aiops_core/retention.py). Counted, acked.
            metrics.INGESTED.labels("archive", "shed").inc(lines)
            return [[] for _ in items]
        read = await self.runtime.store.insert_json_lines("logs_raw_in", b"\n".join(item.raw.data for item in items))
        metrics.INGESTED.labels("archive", "archived").inc(read)
        if read < lines:
            metrics.INGESTED.labels("archive", "unreadable").inc(lines - read)
        return [[] for _ in items]

    # --- HTTP -------------------------------------------------------------------------------
    def routers(self) -> list[APIRouter]:
        router = APIRouter(prefix="/api/v3", tags=["ingest"])
        role = self

        @router.post("/logs", status_code=202, summary="Ingest logs: a JSON array or NDJSON")
        async def post_logs(request: Request, who: IngestIdentity, idempotency_key: IdempotencyKey = None) -> JSONResponse:
            runtime = _runtime(role)
            started = time.perf_counter()
            received_at = utc_now()
            items = await _read_items(request)
            try:
                parsed: list[LogIn] = parse_batch(items, LogIn, runtime.policy.ingest.max_batch)
            except InputError as exc:
                metrics.INGESTED.labels("http", "rejected").inc(max(1, len(items)))
                raise HTTPException(422, detail=exc.errors) from exc
            source = "replay" if request.headers.get("x-aiops-source") == "replay" else "http"
            ids = _idempotent_ids(idempotency_key, who, len(parsed))
            entries = [
                stamp_log(i, default_ship_id=runtime.settings.ship_id, source=source, received_at=received_at,
                          started=started, tracking_id=tracking_id)
                for i, tracking_id in zip(parsed, ids, strict=True)
            ]
            await _publish_or_503(runtime, role.publish_logs(entries))
            metrics.INGESTED.labels(source, "accepted").inc(len(entries))
            return JSONResponse(
                {"accepted": len(entries), "tracking_ids": [e.tracking_id for e in entries]}, status_code=202
            )

        @router.post("/logs/syslog", status_code=202, summary="Ingest raw syslog lines (text/plain, one per line)")
        async def post_syslog_lines(request: Request, who: IngestIdentity, idempotency_key: IdempotencyKey = None) -> JSONResponse:
            runtime = _runtime(role)
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                raise HTTPException(413, detail=f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
            lines = [line for line in body.splitlines() if line.strip()]
            if not lines:
                raise HTTPException(422, detail=[{"loc": "body", "msg": "no syslog lines"}])
            if len(lines) > runtime.policy.ingest.max_batch:
                raise HTTPException(
                    422, detail=[{"loc": "body", "msg": f"{len(lines)} lines exceed the limit of {runtime.policy.ingest.max_batch}"}]
                )
            source = "replay" if request.headers.get("x-aiops-source") == "replay" else "syslog"
            entries, rejected = [], []
            ids = _idempotent_ids(idempotency_key, who, len(lines))
            for number, (line, tracking_id) in enumerate(zip(lines, ids, strict=True), start=1):
                try:
                    entries.append(role.parse_frame(line, request.client.host if request.client else None, source, tracking_id))
                except (SyslogParseError, ValueError) as exc:
                    rejected.append({"line": number, "reason": str(exc)})
                    await role._reject(line, str(exc), "syslog_parse")
            if entries:
                await _publish_or_503(runtime, role.publish_logs(entries))
            metrics.INGESTED.labels(source, "accepted").inc(len(entries))
            return JSONResponse(
                {"accepted": len(entries), "tracking_ids": [e.tracking_id for e in entries], "rejected": rejected},
                status_code=202,
            )

        @router.post("/metrics", status_code=202, summary="Ingest telemetry samples: a JSON array or NDJSON")
        async def post_metrics(request: Request, who: IngestIdentity, idempotency_key: IdempotencyKey = None) -> JSONResponse:
            runtime = _runtime(role)
            started = time.perf_counter()
            received_at = utc_now()
            items = await _read_items(request)
            try:
                parsed: list[MetricIn] = parse_batch(items, MetricIn, runtime.policy.ingest.max_batch)
            except InputError as exc:
                raise HTTPException(422, detail=exc.errors) from exc
            ids = _idempotent_ids(idempotency_key, who, len(parsed))
            samples: list[MetricSample] = [
                stamp_metric(i, default_ship_id=runtime.settings.ship_id, received_at=received_at, started=started,
                             tracking_id=tracking_id)
                for i, tracking_id in zip(parsed, ids, strict=True)
            ]
            await _publish_or_503(
                runtime,
                runtime.bus.publish_many([Outgoing(TELEMETRY, s, s.tracking_id) for s in samples])
            )
            return JSONResponse(
                {"accepted": len(samples), "tracking_ids": [s.tracking_id for s in samples]}, status_code=202
            )

        return [router]



def _idempotent_ids(key: str | None, who: Identity, count: int) -> list[str | None]:
    """With an Idempotency-Key, the batch's tracking ids derive from it (and the client), so a
    batch resent after a lost answer is deduplicated by JetStream instead of stored twice;
    without one, each line gets a fresh uuid4."""
    if key is None:
        return [None] * count
    return idempotent_tracking_ids(who.name, key, count)


def _runtime(role: IngestRole) -> Runtime:
    if role.runtime is None:
        raise HTTPException(503, detail="ingest is starting", headers={"Retry-After": "2"})
    return role.runtime


async def _publish_or_503(runtime: Runtime, publishing) -> None:
    if not runtime.bus.connected:
        # Refused at once: a publish now would wait in the client's reconnect buffer and could
        # be stored after the 503 had told the client to send it again (a duplicate).
        publishing.close()
        log.warning("http_publish_refused", reason="nats disconnected")
        raise HTTPException(503, detail="the bus is unavailable; retry later", headers={"Retry-After": "5"})
    try:
        await publishing
    except Exception as exc:  # noqa: BLE001 - the client keeps its data and retries
        log.warning("http_publish_failed", error=repr(exc))
        raise HTTPException(503, detail="the bus is unavailable; retry later", headers={"Retry-After": "5"}) from exc


async def _read_items(request: Request) -> list[Any]:
    """A JSON array, or NDJSON (one object per line). Errors name the line."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, detail=f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    text = body.strip()
    if not text:
        raise HTTPException(422, detail=[{"loc": "body", "msg": "empty body"}])
    if text.startswith(b"["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, detail=[{"loc": "body", "msg": f"invalid JSON: {exc}"}]) from exc
        return items
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, detail=[{"loc": f"line {number}", "msg": f"invalid JSON: {exc}"}]) from exc
    return items


class _SyslogUdp(asyncio.DatagramProtocol):
    def __init__(self, role: IngestRole) -> None:
        self.role = role

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        asyncio.ensure_future(self.role.accept_syslog(data, addr[0]))
