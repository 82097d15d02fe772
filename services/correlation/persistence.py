"""Correlation's state in a JetStream KV bucket: one key per incident it still holds
(`incident.<incident_id>`) and one `meta` key for the storm and flapping counters."""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from aiops_core.logging import StructuredLogger
from services.correlation.handlers import Pending
from services.correlation.state import CorrelationState, IncidentState, Meta

log = StructuredLogger.get_logger(__name__, service="correlation")

STATE_BUCKET = "correlation-state"
META_KEY = "meta"
_INCIDENT_PREFIX = "incident."
LOAD_TIMEOUT_SECONDS = 10.0
# A key not written for a week belongs to an incident no window can reach any more; the TTL also
# clears the delete markers evicted incidents leave behind, so the bucket does not grow forever.
STATE_TTL_SECONDS = 7 * 24 * 3600


def incident_key(incident_id: str) -> str:
    return f"{_INCIDENT_PREFIX}{incident_id}"


async def open_state_bucket(js: JetStreamContext, bucket: str = STATE_BUCKET) -> KeyValue:
    """The role's bucket, created on first start; only the latest value of a key matters."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(
                bucket=bucket,
                description="correlation: open incidents, storm and flapping counters",
                history=1,
                ttl=STATE_TTL_SECONDS,
                storage=StorageType.FILE,
            )
        )


async def load_state(kv: KeyValue) -> CorrelationState:
    """Reads every live key. A value that no longer parses is logged and skipped, never fatal:
    the incident it held simply stops absorbing, and the next anomaly opens a new one."""
    state = CorrelationState()
    watcher = await kv.watchall(ignore_deletes=True)
    try:
        while True:
            entry = await watcher.updates(timeout=LOAD_TIMEOUT_SECONDS)
            if entry is None:
                break
            if entry.value is None:
                continue
            try:
                if entry.key == META_KEY:
                    state.meta = Meta.from_json(entry.value)
                elif entry.key.startswith(_INCIDENT_PREFIX):
                    incident = IncidentState.from_json(entry.value)
                    state.incidents[incident.incident_id] = incident
            except Exception as exc:  # noqa: BLE001 - one bad key must not stop the role
                log.error("state_key_unreadable", key=entry.key, error=repr(exc))
    finally:
        await watcher.stop()
    return state


async def save_pending(kv: KeyValue, pending: Pending) -> None:
    """Writes changed incidents, deletes evicted ones, then the meta document."""
    await asyncio.gather(*(kv.put(incident_key(i.incident_id), i.to_json()) for i in pending.incidents))
    await asyncio.gather(*(kv.delete(incident_key(i)) for i in pending.evicted))
    if pending.meta is not None:
        await kv.put(META_KEY, pending.meta.to_json())
