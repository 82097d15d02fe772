"""The bus: JetStream streams, subjects and durable consumers, declared here and only here.

Delivery is at-least-once with idempotent outputs:
- a role pulls a batch from its durable consumer, handles it, publishes every output with a
  `Nats-Msg-Id` derived from its input (so a redelivered input never yields a second output:
  JetStream drops the duplicate inside the stream's duplicate window), waits for the publish
  acknowledgements, and only then acks the inputs;
- a message that fails is redelivered with backoff up to `max_deliver` times, then goes to
  `dlq.<role>` with the reason; a message that cannot be decoded or validated goes there at once.
Nothing is dropped silently: every outcome is counted in `aiops_messages_total`.

`logs.raw` messages carry one or more log lines as NDJSON (one `LogEntry` per line): at thousands
of lines a second the per-message costs (a JetStream store, a delivery per consumer, an ack each)
outweigh the lines' own work, so ingest packs what arrived together into one message. A message
with a single line is plain JSON, as Vector publishes it. Handlers still see one `Incoming` per
line; a message is acked once all its lines are handled, and a bad line goes to the DLQ alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    ExternalStream,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
)
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ValidationError

from aiops_core import metrics
from aiops_core.errors import DependencyUnavailable
from aiops_core.logging import StructuredLogger, tracking
from aiops_core.models import (
    DeadLetter,
    EnrichedAnomaly,
    AnomalyDetected,
    EnrichedIncident,
    IncidentChange,
    LogEntry,
    MetricSample,
    RemediationAction,
    utc_now,
)

log = StructuredLogger.get_logger(__name__, service="bus")

# Subjects and the contract each carries.
LOGS_RAW = "logs.raw"
TELEMETRY = "telemetry.metrics"
ANOMALY_DETECTED = "anomaly.detected"
ANOMALY_ENRICHED = "anomaly.enriched"
INCIDENTS_CREATED = "incidents.created"
INCIDENTS_UPDATED = "incidents.updated"
INCIDENTS_ENRICHED = "incidents.enriched"
# Operator status changes (acknowledge, resolve, suppress) published by the incident-api.
INCIDENTS_STATUS = "incidents.status"
ACTIONS_PREFIX = "actions"
DLQ_PREFIX = "dlq"
# Ship to shore: what a ship lets leave (redacted), `<prefix>.<ship token>`; see services/shore_sync.
SHORE_PREFIX = "shore"
SHORE_INCIDENTS = "shore.incidents"
SHORE_INSIGHTS = "shore.insights"
# The shore hub's stream that sources every ship's SHORE_OUTBOX across the leaf-node link.
FLEET_STREAM = "FLEET"

SUBJECT_MODELS: dict[str, type[BaseModel]] = {
    LOGS_RAW: LogEntry,
    TELEMETRY: MetricSample,
    ANOMALY_DETECTED: AnomalyDetected,
    ANOMALY_ENRICHED: EnrichedAnomaly,
    INCIDENTS_CREATED: IncidentChange,
    INCIDENTS_UPDATED: IncidentChange,
    INCIDENTS_ENRICHED: EnrichedIncident,
    INCIDENTS_STATUS: IncidentChange,
}


# Subjects whose messages may hold several contracts, one JSON document per line.
MULTI_LINE_SUBJECTS = frozenset({LOGS_RAW})
# Bounds of one multi-line message: well under NATS's 1 MiB max_payload, and a handful of
# milliseconds of work per message for the consumers.
LINES_PER_MESSAGE = 256
BYTES_PER_MESSAGE = 256 * 1024


def model_for(subject: str) -> type[BaseModel]:
    if subject.startswith(ACTIONS_PREFIX + "."):
        return RemediationAction
    if subject.startswith(SHORE_INCIDENTS + "."):
        return IncidentChange
    if subject.startswith(SHORE_INSIGHTS + "."):
        return EnrichedIncident
    return SUBJECT_MODELS[subject]


# A batch held while a dependency is down is retried after 1 s, then 2, 4, ... up to this; it must
# stay below the consumers' ack_wait, which each retry's in-progress signal restarts.
HOLD_MAX_SECONDS = 10.0
# Messages decoded between two yields to the event loop (about 3 ms of work for log lines).
DECODE_SLICE = 100

# How long JetStream remembers a Nats-Msg-Id. A redelivery after a crash lands well inside it.
DUPLICATE_WINDOW_SECONDS = 600.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_seconds: float
    max_bytes: int


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("LOGS", (LOGS_RAW,), 24 * 3600, 4 * 1024**3),
    StreamSpec("TELEMETRY", (TELEMETRY,), 24 * 3600, 1 * 1024**3),
    StreamSpec("ANOMALIES", (ANOMALY_DETECTED, ANOMALY_ENRICHED), 7 * 24 * 3600, 1 * 1024**3),
    StreamSpec(
        "INCIDENTS",
        (INCIDENTS_CREATED, INCIDENTS_UPDATED, INCIDENTS_ENRICHED, INCIDENTS_STATUS),
        30 * 24 * 3600,
        1 * 1024**3,
    ),
    StreamSpec("ACTIONS", (ACTIONS_PREFIX + ".>",), 90 * 24 * 3600, 256 * 1024**2),
    StreamSpec("DLQ", (DLQ_PREFIX + ".>",), 30 * 24 * 3600, 512 * 1024**2),
    # What waits on board for the shore while the satellite link is down: these limits are how
    # long an outage the ship rides out without the shore missing anything (docs/RELIABILITY.md).
    StreamSpec("SHORE_OUTBOX", (SHORE_PREFIX + ".>",), 30 * 24 * 3600, 1 * 1024**3),
)
# On the shore hub only; the source positions live in the stream, so a shore restart resumes.
FLEET_SPEC = StreamSpec(FLEET_STREAM, (), 90 * 24 * 3600, 20 * 1024**3)


def ship_token(ship_id: str) -> str:
    """A ship id as one subject token and JetStream domain name (neither may contain a dot)."""
    return ship_id.replace(".", "_")


@dataclass(frozen=True)
class ConsumerSpec:
    durable: str
    role: str
    stream: str
    subjects: tuple[str, ...]
    # Redelivery backoff: the list length need not match max_deliver (the last value repeats).
    backoff_seconds: tuple[float, ...] = (1.0, 5.0, 15.0, 30.0)
    # False: the handler gets each message as it came, one Incoming per message with no decoded
    # contract (`message` None), for a consumer that hands the bytes on unread (the archiver).
    decode: bool = True


CONSUMERS: dict[str, ConsumerSpec] = {
    spec.durable: spec
    for spec in (
        # The archive is written by the engine from the lines as they are (ingest/app.py).
        ConsumerSpec("ingest-archiver", "ingest", "LOGS", (LOGS_RAW,), decode=False),
        ConsumerSpec("anomaly-detection-logs", "anomaly-detection", "LOGS", (LOGS_RAW,)),
        ConsumerSpec("anomaly-detection-metrics", "anomaly-detection", "TELEMETRY", (TELEMETRY,)),
        ConsumerSpec("enrichment", "enrichment", "ANOMALIES", (ANOMALY_DETECTED,)),
        ConsumerSpec("correlation", "correlation", "ANOMALIES", (ANOMALY_ENRICHED,)),
        ConsumerSpec("correlation-status", "correlation", "INCIDENTS", (INCIDENTS_STATUS,)),
        ConsumerSpec(
            "llm-enricher", "llm-enricher", "INCIDENTS", (INCIDENTS_CREATED, INCIDENTS_UPDATED, INCIDENTS_STATUS)
        ),
        ConsumerSpec(
            "incident-api", "incident-api", "INCIDENTS", (INCIDENTS_CREATED, INCIDENTS_UPDATED, INCIDENTS_ENRICHED)
        ),
        # Remediation proposals from insights: its own durable so they never delay incident storage.
        ConsumerSpec("incident-api-remediation", "incident-api", "INCIDENTS", (INCIDENTS_ENRICHED,)),
        # Ship: redacts incident changes and insights into SHORE_OUTBOX, which the shore sources.
        ConsumerSpec(
            "shore-outbox", "incident-api", "INCIDENTS",
            (INCIDENTS_CREATED, INCIDENTS_UPDATED, INCIDENTS_ENRICHED, INCIDENTS_STATUS),
        ),
        # Shore: stores every ship's incidents from FLEET (declared only on a hub).
        ConsumerSpec("fleet", "incident-api", FLEET_STREAM, (SHORE_PREFIX + ".>",)),
    )
}


# Consumers only a ship runs: a hub has no outbox to fill, and an undrained durable there would
# only show a lag that grows forever (and fire ConsumerLagHigh).
SHIP_ONLY_CONSUMERS = frozenset({"shore-outbox"})


def node_consumers(*, shore: bool) -> list[ConsumerSpec]:
    """The durables a node declares and watches: a ship all but the hub's FLEET reader, a shore
    hub all but the ship's outbox forwarder."""
    return [
        spec for spec in CONSUMERS.values()
        if (spec.stream != FLEET_STREAM or shore) and not (shore and spec.durable in SHIP_ONLY_CONSUMERS)
    ]


@dataclass(frozen=True)
class Outgoing:
    """One message a handler wants published. `msg_id` must derive from the input."""

    subject: str
    message: BaseModel
    msg_id: str

    def payload(self) -> bytes:
        return encode(self.message)


@dataclass(frozen=True)
class OutgoingLines:
    """Several contracts in one message of a MULTI_LINE_SUBJECTS subject (see `pack_lines`)."""

    subject: str
    payload_bytes: bytes
    msg_id: str
    count: int

    def payload(self) -> bytes:
        return self.payload_bytes


@dataclass
class Incoming:
    subject: str
    # None for a consumer that takes its messages undecoded (ConsumerSpec.decode).
    message: BaseModel | None
    raw: Msg = field(repr=False)
    # Which line of a multi-line message this is (0 for a one-line message).
    line: int = 0

    @property
    def deliveries(self) -> int:
        return self.raw.metadata.num_delivered


class Rejected(Exception):
    """Raised by a handler for an input that will never succeed: it goes straight to the DLQ."""


# A handler's outcome per input: its outputs, or the exception that stopped it.
Results = list[Sequence[Outgoing] | BaseException]


@dataclass
class AckAfter:
    """A handler's results whose inputs may be acked only once `stored` completes: the handler
    has done what others wait for, and the rest (rows written in bulk a moment later) finishes
    in the background while the consumer goes on with its next batch. Should `stored` fail, the
    inputs are redelivered."""

    results: Results
    stored: Awaitable[None]


# A batch handler gets the decoded inputs and returns, per input, its outputs or the exception
# that stopped it (or those results in an AckAfter). Per-input results let one bad input fail alone.
BatchHandler = Callable[[list[Incoming]], Awaitable[Results | AckAfter]]
# Batches whose acks wait on an AckAfter at one time, per consumer; the next waits for room. A
# safety bound only: a batch is often a message or two, many share one bulk write, and the
# consumer's max_ack_pending already bounds the messages held.
MAX_SETTLING = 256


def per_message(handle: Callable[[Incoming], Awaitable[Sequence[Outgoing]]]) -> BatchHandler:
    """Adapts a one-message handler to the batch interface."""

    async def handle_batch(items: list[Incoming]) -> Results:
        results: Results = []
        for item in items:
            with tracking(getattr(item.message, "tracking_id", None)):
                try:
                    results.append(await handle(item))
                except Exception as exc:  # noqa: BLE001 - the runner decides retry or DLQ
                    results.append(exc)
        return results

    return handle_batch


class Bus:
    def __init__(self, nc: NatsClient, role: str) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=10.0)
        self.role = role

    @classmethod
    async def connect(cls, url: str, role: str, *, max_reconnect_attempts: int = -1) -> Bus:
        async def on_disconnect() -> None:
            metrics.NATS_UP.set(0)
            log.warning("nats_disconnected", role=role)

        async def on_reconnect() -> None:
            metrics.NATS_UP.set(1)
            log.info("nats_reconnected", role=role)

        async def on_error(exc: Exception) -> None:
            log.warning("nats_error", role=role, error=str(exc))

        nc = await nats.connect(
            url,
            name=f"aiops-{role}",
            max_reconnect_attempts=max_reconnect_attempts,
            reconnect_time_wait=0.5,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
            error_cb=on_error,
            pending_size=64 * 1024 * 1024,
        )
        metrics.NATS_UP.set(1)
        return cls(nc, role)

    @property
    def connected(self) -> bool:
        return self.nc.is_connected

    async def close(self) -> None:
        if not self.nc.is_closed:
            # Consumers have stopped and acked by now; flush sends those acks. (drain() would wait
            # forever on pull subscriptions' queues that nobody reads any more.)
            try:
                await self.nc.flush(timeout=5)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            await self.nc.close()
        metrics.NATS_UP.set(0)

    async def ensure_topology(
        self, max_deliver: int, ack_wait_seconds: float, *, fleet_ships: Sequence[str] | None = None
    ) -> None:
        """Declares every stream and durable consumer; safe to call from every role at start.

        `fleet_ships` (a shore hub only) declares FLEET sourcing each ship's SHORE_OUTBOX from the
        ship's JetStream domain across the leaf-node link."""
        configs = [stream_config(spec) for spec in STREAMS]
        if fleet_ships is not None:
            configs.append(fleet_stream_config(fleet_ships))
        for config in configs:
            try:
                await self.js.stream_info(config.name)
                await self.js.update_stream(config)
            except NotFoundError:
                await self.js.add_stream(config)
        for spec in node_consumers(shore=fleet_ships is not None):
            await self.js.add_consumer(spec.stream, consumer_config(spec, max_deliver, ack_wait_seconds))

    async def publish(self, out: Outgoing | OutgoingLines) -> None:
        await self.js.publish(out.subject, out.payload(), headers={"Nats-Msg-Id": out.msg_id})

    async def publish_many(self, outs: Sequence[Outgoing | OutgoingLines], timeout: float = 10.0) -> None:
        """Publishes concurrently and returns once JetStream has stored every one."""
        if not outs:
            return
        if len(outs) == 1:
            await self.publish(outs[0])
            return
        futures = [
            await self.js.publish_async(o.subject, o.payload(), headers={"Nats-Msg-Id": o.msg_id})
            for o in outs
        ]
        await asyncio.wait_for(asyncio.gather(*futures), timeout=timeout)

    async def dead_letter(
        self,
        subject: str,
        data: bytes,
        reason: str,
        error_type: str,
        *,
        tracking_id: str | None = None,
        deliveries: int = 0,
        dedup_key: str | None = None,
    ) -> None:
        """Sends what could not be processed to `dlq.<role>`, with the reason and the payload."""
        letter = DeadLetter(
            role=self.role,
            subject=subject[:256],
            reason=reason[:16000],
            error_type=error_type[:256],
            deliveries=deliveries,
            at=utc_now(),
            tracking_id=tracking_id,
            payload=data[:65536].decode("utf-8", errors="replace"),
        )
        headers = {"Nats-Msg-Id": f"dlq:{self.role}:{dedup_key}"} if dedup_key else None
        await self.js.publish(f"{DLQ_PREFIX}.{self.role}", encode(letter), headers=headers)
        metrics.DLQ.labels(self.role, error_type).inc()
        log.warning("dead_lettered", role=self.role, subject=subject, reason=reason[:500], tracking_id=tracking_id)

    async def consume(
        self,
        durable: str,
        handler: BatchHandler,
        *,
        batch: int,
        max_deliver: int,
        stop: asyncio.Event,
        after_publish: Callable[[], Awaitable[None]] | None = None,
        linger_seconds: float = 0.0,
    ) -> None:
        """Runs one durable consumer until `stop` is set; survives NATS restarts.

        `after_publish` runs once a batch's outputs are stored and before its inputs are acked:
        the place for a stateful role to persist its state (publish, persist, ack).
        `linger_seconds` lets a batch wait that long to fill up: for a consumer whose cost is per
        batch (one insert) rather than per message, and which no one waits for."""
        spec = CONSUMERS[durable]
        feed = PullFeed(self.nc, spec.stream, durable, batch, linger_seconds=linger_seconds)
        settling: set[asyncio.Task] = set()
        readers = spec.subjects if spec.decode else ()
        _consumers_of.update(readers)
        try:
            while not stop.is_set():
                try:
                    raw_msgs = await feed.next_batch(timeout=1.0)
                except Exception as exc:  # noqa: BLE001 - connection churn: wait and retry
                    log.warning("fetch_failed", consumer=durable, error=repr(exc))
                    await _sleep_unless(stop, 0.5)
                    continue
                if raw_msgs:
                    await self._process(spec, raw_msgs, handler, max_deliver, after_publish, stop=stop, settling=settling)
                while len(settling) >= MAX_SETTLING:
                    await asyncio.wait(settling, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Batches still settling are acked (or naked) before the consumer ends.
            if settling:
                await asyncio.gather(*settling, return_exceptions=True)
            await feed.close()
            _consumers_of.subtract(readers)

    async def _process(
        self,
        spec: ConsumerSpec,
        raw_msgs: list[Msg],
        handler: BatchHandler,
        max_deliver: int,
        after_publish: Callable[[], Awaitable[None]] | None = None,
        *,
        stop: asyncio.Event | None = None,
        settling: set[asyncio.Task] | None = None,
    ) -> None:
        items = await self._decode_batch(spec, raw_msgs)
        if not items:
            return
        results, waits = await _handle(handler, items)
        if stop is not None:
            results = await self._hold_while_unavailable(spec, handler, items, results, waits, stop)
        outputs: list[Outgoing] = []
        # Per message (several lines share one): retry it, or ack it once every line is settled.
        retry: dict[int, Msg] = {}
        settled: dict[int, Msg] = {}
        handled = 0
        for item, result in zip(items, results, strict=True):
            key = id(item.raw)
            if isinstance(result, BaseException):
                if not await self._failed(spec, item, result, max_deliver):
                    retry[key] = item.raw
                    continue
            else:
                outputs.extend(result)
                handled += 1
            settled[key] = item.raw
        try:
            await self.publish_many(outputs)
            if after_publish is not None:
                await after_publish()
        except Exception as exc:  # noqa: BLE001 - unacked inputs are redelivered, outputs dedup
            log.warning("publish_failed", role=spec.role, error=repr(exc), count=len(outputs))
            await self._retry_all(spec, settled, retry, handled)
            return
        if not waits:
            await self._settle(spec, settled, retry, handled)
            return
        task = asyncio.create_task(self._settle_after(spec, waits, settled, retry, handled))
        if settling is None:
            await task
        else:
            settling.add(task)
            task.add_done_callback(settling.discard)

    async def _settle_after(
        self, spec: ConsumerSpec, waits: list[Awaitable[None]], settled: dict[int, Msg], retry: dict[int, Msg],
        handled: int,
    ) -> None:
        try:
            await asyncio.gather(*waits)
        except Exception as exc:  # noqa: BLE001 - unacked inputs are redelivered, rows dedup
            log.warning("deferred_store_failed", role=spec.role, error=repr(exc), count=handled)
            await self._retry_all(spec, settled, retry, handled)
            return
        await self._settle(spec, settled, retry, handled)

    async def _retry_all(self, spec: ConsumerSpec, settled: dict[int, Msg], retry: dict[int, Msg], handled: int) -> None:
        """Every message of the batch comes back (its outputs, already stored or not, dedup)."""
        for raw in {**settled, **retry}.values():
            await _nak(raw, _backoff(spec, raw.metadata.num_delivered))
        metrics.MESSAGES.labels(spec.role, "retry").inc(handled)

    async def _settle(self, spec: ConsumerSpec, settled: dict[int, Msg], retry: dict[int, Msg], handled: int) -> None:
        """Naks the messages to retry and acks the others (each message once, whatever its lines)."""
        for raw in retry.values():
            await _nak(raw, _backoff(spec, raw.metadata.num_delivered))
        for key, raw in settled.items():
            if key not in retry:
                await _ack(raw)
        metrics.MESSAGES.labels(spec.role, "ok").inc(handled)

    async def _decode_batch(self, spec: ConsumerSpec, raw_msgs: list[Msg]) -> list[Incoming]:
        """One Incoming per contract in the messages; what does not decode goes to the DLQ."""
        if not spec.decode:
            return [Incoming(raw.subject, None, raw) for raw in raw_msgs]
        items: list[Incoming] = []
        decoded = 0
        for raw in raw_msgs:
            try:
                messages, problems = _decoded(raw)
            except (ValidationError, ValueError, KeyError) as exc:
                metrics.MESSAGES.labels(spec.role, "invalid").inc()
                await self._dead_letter_and_term(raw, _validation_reason(exc), "invalid")
                continue
            if problems:
                metrics.MESSAGES.labels(spec.role, "invalid").inc(len(problems))
                if not messages:
                    reason = problems[0][2] if len(problems) == 1 else _lines_reason(problems)
                    await self._dead_letter_and_term(raw, reason, "invalid")
                    continue
                # The good lines go on; the bad ones are dead-lettered together, once (the
                # letter's id is the message's, so a redelivery does not repeat it).
                if not await self._dead_letter_lines(raw, problems):
                    continue
            items.extend(Incoming(raw.subject, message, raw, line) for line, message in messages)
            previous, decoded = decoded, decoded + len(messages) + len(problems)
            if decoded // DECODE_SLICE != previous // DECODE_SLICE:
                # A big batch (the archiver's thousands of lines) decodes in slices, letting the
                # fast path's messages through in between instead of after the whole batch.
                await asyncio.sleep(0)
        return items

    async def _hold_while_unavailable(
        self,
        spec: ConsumerSpec,
        handler: BatchHandler,
        items: list[Incoming],
        results: Results,
        waits: list[Awaitable[None]],
        stop: asyncio.Event,
    ) -> Results:
        """Inputs that failed because a dependency is down (the store) are no fault of theirs:
        they are kept in progress, so JetStream neither redelivers them nor spends a delivery,
        and handled again with backoff until the dependency answers or the role stops. A long
        store outage thus never exhausts max_deliver into the DLQ; the backlog waits in
        JetStream behind them (bounded by max_ack_pending)."""
        delay = 1.0
        while not stop.is_set():
            waiting = [i for i, result in enumerate(results) if isinstance(result, DependencyUnavailable)]
            if not waiting:
                break
            metrics.MESSAGES.labels(spec.role, "held").inc(len(waiting))
            log.warning("dependency_unavailable_holding", role=spec.role, count=len(waiting),
                        error=repr(results[waiting[0]]), retry_in_seconds=delay)
            for raw in {id(items[i].raw): items[i].raw for i in waiting}.values():
                await _in_progress(raw)
            await _sleep_unless(stop, delay)
            delay = min(delay * 2, HOLD_MAX_SECONDS)
            retried, more_waits = await _handle(handler, [items[i] for i in waiting])
            waits.extend(more_waits)
            results = list(results)
            for index, result in zip(waiting, retried, strict=True):
                results[index] = result
        return results

    async def _failed(self, spec: ConsumerSpec, item: Incoming, exc: BaseException, max_deliver: int) -> bool:
        """True when the input is settled (dead-lettered); False when its message is to be retried."""
        tracking_id = getattr(item.message, "tracking_id", None)
        if isinstance(exc, Rejected) or item.deliveries >= max_deliver:
            outcome = "rejected" if isinstance(exc, Rejected) else "exhausted"
            metrics.MESSAGES.labels(spec.role, "dlq").inc()
            # Not settled if the DLQ cannot take it: its message is retried and it comes back.
            return await self._dead_letter_raw(
                item.raw, _line_of(item), f"{outcome}: {exc!r}", type(exc).__name__, f":{item.line}", tracking_id,
            )
        metrics.MESSAGES.labels(spec.role, "retry").inc()
        log.warning("handler_failed", role=spec.role, error=repr(exc), deliveries=item.deliveries, tracking_id=tracking_id)
        return False

    async def _dead_letter_lines(self, raw: Msg, problems: list[tuple[int, bytes, str]]) -> bool:
        """One letter for a message's undecodable lines; False (and the message naked) if it fails."""
        lines = b"\n".join(line for _, line, _ in problems)
        if await self._dead_letter_raw(raw, lines, _lines_reason(problems), "invalid", ":lines"):
            return True
        await _nak(raw, 5.0)
        return False

    async def _dead_letter_and_term(self, raw: Msg, reason: str, error_type: str) -> None:
        if not await self._dead_letter_raw(raw, raw.data, reason, error_type):
            await _nak(raw, 5.0)
            return
        try:
            await raw.term()
        except Exception:  # noqa: BLE001 - already settled or connection gone
            pass

    async def _dead_letter_raw(
        self, raw: Msg, data: bytes, reason: str, error_type: str, key_suffix: str = "",
        tracking_id: str | None = None,
    ) -> bool:
        """Dead-letters (part of) a message once, whatever its redeliveries; False if the DLQ could
        not take it (the caller leaves the message unacked, to come back and be tried again)."""
        try:
            await self.dead_letter(
                raw.subject, data, reason, error_type, tracking_id=tracking_id, deliveries=raw.metadata.num_delivered,
                dedup_key=f"{raw.metadata.stream}:{raw.metadata.sequence.stream}{key_suffix}",
            )
        except Exception as exc:  # noqa: BLE001 - not acked: it comes back and is tried again
            log.error("dead_letter_failed", error=repr(exc))
            return False
        return True

    async def consumer_lag(self, durable: str) -> tuple[int, int]:
        info = await self.js.consumer_info(CONSUMERS[durable].stream, durable)
        return info.num_pending or 0, info.num_ack_pending or 0



class PullFeed:
    """A durable pull consumer read continuously: low latency at low rates, big batches at high ones.

    A pull request for `batch` messages stays open on the server, and messages arrive in the
    background while the previous batch is being handled; `next_batch` hands over whatever has
    arrived (at least one, at most `batch`). The next request goes out as soon as the open one is
    filled or ends, unless a full batch is already waiting, so at most about two batches are
    held unacked here. (`fetch(batch)` instead holds the first message until the batch is full
    or the request times out: up to a second per stage at low rates.)"""

    # A request the server has not ended within its expiry plus this margin is taken as lost
    # (a reconnect to a restarted server) and replaced.
    LOST_AFTER_SECONDS = 2.0

    # While lingering, how often the batch is checked for being full.
    LINGER_CHECK_SECONDS = 0.05

    def __init__(
        self, nc: NatsClient, stream: str, durable: str, batch: int, *, expires_seconds: float = 5.0,
        linger_seconds: float = 0.0,
    ) -> None:
        self.nc = nc
        self.batch = batch
        self.expires_seconds = expires_seconds
        self.linger_seconds = linger_seconds
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._sub = None
        self._arrived: deque[Msg] = deque()
        self._ready = asyncio.Event()
        # Messages the open request may still deliver (0: no request open), and when it went out.
        self._owed = 0
        self._requested_at = 0.0

    async def next_batch(self, timeout: float) -> list[Msg]:
        """What has arrived, waiting up to `timeout` for the first message; [] if none came."""
        if self._sub is None:
            self._sub = await self.nc.subscribe(
                self._inbox, cb=self._on_message, pending_msgs_limit=-1, pending_bytes_limit=-1
            )
        lost = self._owed > 0 and time.monotonic() - self._requested_at > self.expires_seconds + self.LOST_AFTER_SECONDS
        if (self._owed <= 0 and len(self._arrived) < self.batch) or lost:
            await self._request()
        if not self._arrived:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=timeout)
            except asyncio.TimeoutError:
                return []
        lingering_until = time.monotonic() + self.linger_seconds
        while len(self._arrived) < self.batch and time.monotonic() < lingering_until:
            await asyncio.sleep(min(self.LINGER_CHECK_SECONDS, lingering_until - time.monotonic()))
        return [self._arrived.popleft() for _ in range(min(len(self._arrived), self.batch))]

    async def _request(self) -> None:
        self._owed = self.batch
        self._requested_at = time.monotonic()
        body = json.dumps({"batch": self.batch, "expires": int(self.expires_seconds * 1e9)}).encode()
        await self.nc.publish(self._next_subject, body, reply=self._inbox)

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self._arrived.append(msg)
            self._owed -= 1
        elif status == "100":
            return
        else:
            # 408 (expired) or 409 (a limit, a leadership change): the open request is over.
            self._owed = 0
        if self._owed <= 0 and len(self._arrived) < self.batch:
            await self._request()
        self._ready.set()

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            self._sub = None


def stream_config(spec: StreamSpec) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects) or None,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age_seconds,
        max_bytes=spec.max_bytes,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )


def fleet_stream_config(ship_ids: Sequence[str]) -> StreamConfig:
    """FLEET sources each ship's SHORE_OUTBOX through `$JS.<ship>.API`: JetStream keeps the
    position per source and resumes after a link outage without gaps or duplicates."""
    config = stream_config(FLEET_SPEC)
    config.sources = [
        StreamSource(name="SHORE_OUTBOX", external=ExternalStream(api=f"$JS.{ship_token(ship)}.API"))
        for ship in sorted(set(ship_ids))
    ]
    return config


def consumer_config(spec: ConsumerSpec, max_deliver: int, ack_wait_seconds: float) -> ConsumerConfig:
    subjects = list(spec.subjects)
    return ConsumerConfig(
        durable_name=spec.durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_seconds,
        max_deliver=max_deliver,
        filter_subject=subjects[0] if len(subjects) == 1 else None,
        filter_subjects=subjects if len(subjects) > 1 else None,
        # Bounds in-flight work per consumer: backpressure stays in JetStream, not in memory.
        max_ack_pending=4096,
    )


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_none=False).encode()


def decode(subject: str, data: bytes) -> BaseModel:
    return model_for(subject).model_validate_json(data)


def pack_lines(subject: str, messages: Sequence[BaseModel], id_of: Callable[[BaseModel], str]) -> list[OutgoingLines]:
    """Messages packed into NDJSON messages of at most LINES_PER_MESSAGE lines and about
    BYTES_PER_MESSAGE bytes, in order. Each one's Nats-Msg-Id is a digest of its lines' ids: the
    same lines packed the same way (an HTTP batch resent with its Idempotency-Key) dedup."""
    packed: list[OutgoingLines] = []
    lines: list[bytes] = []
    ids: list[str] = []
    size = 0

    def close() -> None:
        digest = hashlib.blake2b("\n".join(ids).encode(), digest_size=16).hexdigest()
        packed.append(OutgoingLines(subject, b"\n".join(lines), f"lines:{digest}", len(lines)))
        lines.clear()
        ids.clear()

    for message in messages:
        data = encode(message)
        if lines and (len(lines) >= LINES_PER_MESSAGE or size + len(data) > BYTES_PER_MESSAGE):
            close()
            size = 0
        lines.append(data)
        ids.append(id_of(message))
        size += len(data) + 1
    if lines:
        close()
    return packed


Decoded = tuple[list[tuple[int, BaseModel]], list[tuple[int, bytes, str]]]


def message_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each line of a multi-line message; blank lines are not lines."""
    for number, line in enumerate(data.split(b"\n")):
        if line.strip():
            yield number, line


def decode_message(subject: str, data: bytes) -> Decoded:
    """(line number, contract) for each valid line and (line number, bytes, reason) for each bad
    one; a subject outside MULTI_LINE_SUBJECTS holds one contract, and raises if it is bad."""
    if subject not in MULTI_LINE_SUBJECTS:
        return [(0, decode(subject, data))], []
    model = model_for(subject)
    good: list[tuple[int, BaseModel]] = []
    bad: list[tuple[int, bytes, str]] = []
    for number, line in message_lines(data):
        try:
            good.append((number, model.model_validate_json(line)))
        except (ValidationError, ValueError) as exc:
            bad.append((number, line, _validation_reason(exc)))
    if not good and not bad:
        bad.append((0, data, "empty message"))
    return good, bad


# Messages decoded in this process, by subject and bytes. In the embedded node several roles
# consume one subject (incidents.*: four consumers), and each would validate the same bytes
# again; handlers never change a message (they copy it), so one decoding serves them all. Keyed
# by content, not stream position: a recreated stream reuses positions. An entry is dropped once
# every consumer of its subject has taken it, and the whole is bounded by the bytes it was
# decoded from: a decoded 24 KB incident change is several times that in objects, and a count of
# entries let thousands of them (a minute of fan-in) pile up behind the shore outbox's lingering
# batches.
_DECODED_CAPACITY_BYTES = 8 * 1024 * 1024
# Entry: the decoding, and how many consumers in the process have yet to take it.
_decoded_messages: OrderedDict[tuple[str, bytes], list] = OrderedDict()
_decoded_bytes = 0
# The decoding consumers running in this process, by subject filter. A subject only one of them
# reads is not kept (logs.raw: detection alone decodes it; the archiver takes its bytes): kept
# lines would only cost memory and the garbage collector's time.
_consumers_of: Counter[str] = Counter()


def _decoded(raw: Msg) -> Decoded:
    global _decoded_bytes
    readers = _consumers_of[raw.subject]
    if readers < 2:
        return decode_message(raw.subject, raw.data)
    key = (raw.subject, raw.data)
    entry = _decoded_messages.get(key)
    if entry is None:
        decoded = decode_message(raw.subject, raw.data)
        _decoded_messages[key] = [decoded, readers - 1]
        _decoded_bytes += len(raw.data)
        while _decoded_bytes > _DECODED_CAPACITY_BYTES and len(_decoded_messages) > 1:
            (_, evicted), _ = _decoded_messages.popitem(last=False)
            _decoded_bytes -= len(evicted)
        return decoded
    entry[1] -= 1
    if entry[1] <= 0:
        del _decoded_messages[key]
        _decoded_bytes -= len(raw.data)
    return entry[0]


def _line_of(item: Incoming) -> bytes:
    """The bytes of one input: its line of a multi-line message, or the whole message."""
    if item.raw.subject in MULTI_LINE_SUBJECTS and item.message is not None:
        lines = item.raw.data.split(b"\n")
        if item.line < len(lines):
            return lines[item.line]
    return item.raw.data


def _lines_reason(problems: list[tuple[int, bytes, str]]) -> str:
    shown = "; ".join(f"line {number + 1}: {reason}" for number, _, reason in problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    return f"{len(problems)} invalid line(s): {shown}{more}"


def _validation_reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:10]]
        return "invalid message: " + "; ".join(parts)
    return f"undecodable message: {exc}"


def _backoff(spec: ConsumerSpec, deliveries: int) -> float:
    index = min(max(deliveries - 1, 0), len(spec.backoff_seconds) - 1)
    return spec.backoff_seconds[index]


async def _handle(handler: BatchHandler, items: list[Incoming]) -> tuple[Results, list[Awaitable[None]]]:
    """The handler's per-input results, and what their acks must wait for (an AckAfter's)."""
    try:
        results = await handler(items)
    except Exception as exc:  # noqa: BLE001 - a whole-batch failure retries every input
        return [exc] * len(items), []
    if isinstance(results, AckAfter):
        return results.results, [results.stored]
    return results, []


async def _in_progress(raw: Msg) -> None:
    try:
        await raw.in_progress()
    except Exception as exc:  # noqa: BLE001 - at worst ack_wait expires and it is redelivered
        log.warning("in_progress_failed", error=repr(exc))


async def _ack(raw: Msg) -> None:
    try:
        await raw.ack()
    except Exception as exc:  # noqa: BLE001 - redelivery will be deduplicated downstream
        log.warning("ack_failed", error=repr(exc))


async def _nak(raw: Msg, delay: float) -> None:
    try:
        await raw.nak(delay=delay)
    except Exception as exc:  # noqa: BLE001 - ack_wait expiry redelivers it anyway
        log.warning("nak_failed", error=repr(exc))


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


def msg_id(*parts: Any) -> str:
    """A Nats-Msg-Id from the input's identity and the stage, e.g. msg_id(tracking_id, 'detect', n)."""
    return ":".join(str(p) for p in parts)
