"""Ingest logic, free of I/O: raw input in, stamped LogEntry / MetricSample out.

Each entry gets its uuid4 `tracking_id` and `ingestion_timestamp` here, exactly once; every
later stage keeps them."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops_core.devices import DeviceRegistry, device_id_from_host
from aiops_core.models import (
    Identifier,
    LogEntry,
    LogLevel,
    MessageText,
    MetricSample,
    ShortText,
    StageStamp,
    UtcDatetime,
    new_tracking_id,
)
from services.ingest.syslog import SyslogMessage, level_of

STAGE = "ingest"
SERVICE = "ingest"

# Level names operators and apps actually send, mapped to the syslog levels.
_LEVEL_ALIASES = {
    "emerg": "emergency", "panic": "emergency", "crit": "critical", "fatal": "critical",
    "err": "error", "warn": "warning", "information": "info", "informational": "info",
    "trace": "debug", "verbose": "debug",
}


def normalize_level(value: str) -> str:
    lowered = value.strip().lower()
    return _LEVEL_ALIASES.get(lowered, lowered)


class LogIn(BaseModel):
    """One log line as a client POSTs it to /api/v3/logs."""

    model_config = ConfigDict(extra="forbid")

    ship_id: Identifier | None = None
    device_id: Identifier
    service: str = Field("unknown", max_length=128)
    level: LogLevel = LogLevel.INFO
    message: MessageText = Field(min_length=1)
    timestamp: UtcDatetime | None = None
    host: ShortText | None = None
    fields: dict[str, Any] = Field(default_factory=dict, max_length=64)

    @classmethod
    def parse(cls, raw: Any) -> LogIn:
        if isinstance(raw, dict) and isinstance(raw.get("level"), str):
            raw = {**raw, "level": normalize_level(raw["level"])}
        return cls.model_validate(raw)


class MetricIn(BaseModel):
    """One sample as a client POSTs it to /api/v3/metrics."""

    model_config = ConfigDict(extra="forbid")

    ship_id: Identifier | None = None
    device_id: Identifier
    metric: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    value: float = Field(allow_inf_nan=False)
    unit: str = Field("", max_length=32)
    timestamp: UtcDatetime | None = None
    labels: dict[str, ShortText] = Field(default_factory=dict, max_length=32)


# A client's Idempotency-Key: printable, short, no spaces.
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c2a52-9d0e-4c1b-8a57-3e2b7c9d4f10")


def idempotent_tracking_ids(client: str, key: str, count: int) -> list[str]:
    """The tracking ids of a batch sent with an Idempotency-Key: the same client resending the
    same batch with the same key gets the same ids, so JetStream drops the copies (they are the
    Nats-Msg-Ids) within its duplicate window. Scoped by the client, so two clients' keys never
    collide."""
    return [str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{client}\n{key}\n{index}")) for index in range(count)]


class InputError(ValueError):
    """A batch item that is wrong, with where: `[3].level: Input should be ...`."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5]))
        self.errors = errors


def validation_errors(index: int | None, exc: ValidationError) -> list[dict[str, Any]]:
    prefix = f"[{index}]" if index is not None else ""
    return [
        {"loc": prefix + "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in err["loc"]), "msg": err["msg"]}
        for err in exc.errors()
    ]


def parse_batch(items: list[Any], model: type[BaseModel], max_items: int) -> list[Any]:
    """Validates a whole batch; any bad item rejects the batch so the client can fix and resend."""
    if not items:
        raise InputError([{"loc": "body", "msg": "empty batch: send at least one item"}])
    if len(items) > max_items:
        raise InputError([{"loc": "body", "msg": f"batch of {len(items)} exceeds the limit of {max_items}"}])
    parsed, errors = [], []
    for index, item in enumerate(items):
        try:
            parsed.append(model.parse(item) if hasattr(model, "parse") else model.model_validate(item))
        except ValidationError as exc:
            errors.extend(validation_errors(index, exc))
    if errors:
        raise InputError(errors)
    return parsed


def stamp_log(
    item: LogIn,
    *,
    default_ship_id: str,
    source: Literal["http", "replay", "demo", "syslog", "vector"],
    received_at: datetime,
    started: float,
    tracking_id: str | None = None,
) -> LogEntry:
    entry = LogEntry(
        tracking_id=tracking_id or new_tracking_id(),
        ship_id=item.ship_id or default_ship_id,
        device_id=item.device_id,
        service=item.service,
        level=item.level,
        message=item.message,
        timestamp=item.timestamp or received_at,
        ingestion_timestamp=received_at,
        host=item.host,
        source=source,
        fields=item.fields,
    )
    return _with_ingest_stamp(entry, received_at, started)


def stamp_metric(
    item: MetricIn, *, default_ship_id: str, received_at: datetime, started: float, tracking_id: str | None = None
) -> MetricSample:
    sample = MetricSample(
        tracking_id=tracking_id or new_tracking_id(),
        ship_id=item.ship_id or default_ship_id,
        device_id=item.device_id,
        metric=item.metric,
        value=item.value,
        unit=item.unit,
        timestamp=item.timestamp or received_at,
        ingestion_timestamp=received_at,
        labels=item.labels,
    )
    return _with_ingest_stamp(sample, received_at, started)


def log_from_syslog(
    parsed: SyslogMessage,
    *,
    peer: str | None,
    registry: DeviceRegistry,
    default_ship_id: str,
    received_at: datetime,
    started: float,
    source: Literal["syslog", "replay", "demo"] = "syslog",
    tracking_id: str | None = None,
) -> LogEntry:
    """Device and ship from the registry by syslog hostname (or sender address), else from the host."""
    host = parsed.hostname or peer
    device = registry.by_host(parsed.hostname) or registry.by_host(peer)
    fields: dict[str, Any] = {"facility": parsed.facility, "severity": parsed.severity, "format": parsed.format}
    if parsed.procid:
        fields["procid"] = parsed.procid
    if parsed.msgid:
        fields["msgid"] = parsed.msgid
    if parsed.structured_data:
        fields["sd"] = parsed.structured_data
    if peer:
        fields["peer"] = peer
    entry = LogEntry(
        tracking_id=tracking_id or new_tracking_id(),
        ship_id=device.ship_id if device else default_ship_id,
        device_id=device.device_id if device else device_id_from_host(host or "unknown"),
        service=(parsed.app_name or "syslog")[:128],
        level=LogLevel(level_of(parsed.severity)),
        message=parsed.message[:65536] or "-",
        timestamp=_sane_timestamp(parsed.timestamp, received_at),
        ingestion_timestamp=received_at,
        host=(host or None) and host[:256],
        source=source,
        fields=fields,
    )
    return _with_ingest_stamp(entry, received_at, started)


def _sane_timestamp(event_time: datetime, received_at: datetime) -> datetime:
    """Device clocks drift (and some never set one): a time far in the future becomes receipt time."""
    if event_time - received_at > timedelta(minutes=5):
        return received_at
    return event_time


def _with_ingest_stamp(entry, received_at: datetime, started: float):
    """The ingest stamp appended to the entry just built (and not yet shared with anyone, so it
    is completed in place instead of copied: a copy per line is a tenth of the parse)."""
    duration_ms = (time.perf_counter() - started) * 1000
    entry.trace.append(StageStamp.model_construct(
        stage=STAGE, service=SERVICE, at=received_at + timedelta(milliseconds=duration_ms), duration_ms=duration_ms
    ))
    return entry
