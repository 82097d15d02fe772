"""The correlation role's wiring: `anomaly.enriched` and `incidents.status` in,
`incidents.created` / `incidents.updated` out, state in the `correlation-state` KV bucket.

Both consumers share one Correlator, so each batch is a transaction under one lock: handle,
publish (the bus), persist (`after_publish`), then the bus acks. A batch that never reaches its
persist step (publish failed, or the handler failed) is rolled back to the persisted state before
the next batch of that consumer, so its redelivery yields the same incident ids and versions.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

from fastapi import APIRouter
from nats.js.kv import KeyValue

from aiops_core import metrics
from aiops_core.bus import INCIDENTS_CREATED, INCIDENTS_UPDATED, Incoming, Outgoing, Rejected, msg_id
from aiops_core.devices import LOAD_DEVICES_SQL, DeviceRegistry, device_from_row
from aiops_core.logging import StructuredLogger, tracking
from aiops_core.models import EnrichedAnomaly, IncidentChange, utc_now
from aiops_core.runtime import Runtime
from services.correlation.handlers import STAGE, Correlator, incident_change
from services.correlation.persistence import load_state, open_state_bucket, save_pending
from services.correlation.topology import Topology

log = StructuredLogger.get_logger(__name__, service="correlation")

# How long one consumer waits for the other's batch to finish before its own batch is retried.
LOCK_WAIT_SECONDS = 10.0
REGISTRY_RETRY_SECONDS = 5.0

_ANOMALIES = "correlation"
_STATUSES = "correlation-status"


class CorrelationRole:
    name = "correlation"

    def __init__(self, *, registry_refresh_seconds: float = 60.0) -> None:
        self.registry_refresh_seconds = registry_refresh_seconds
        self.runtime: Runtime | None = None
        self.kv: KeyValue | None = None
        self.topology: Topology | None = None
        self.correlator: Correlator | None = None
        self._lock = asyncio.Lock()
        # The consumer whose batch holds the lock, from its handler to its persist step.
        self._holder: str | None = None
        self._failed = False
        self._labels: Counter[str] = Counter()

    async def start(self, runtime: Runtime) -> None:
        self.runtime = runtime
        policy = runtime.policy.correlate
        registry = await self._load_registry()
        self.topology = Topology(registry or DeviceRegistry(), policy.topology.max_hops)
        self.kv = await open_state_bucket(runtime.bus.js)
        state = await load_state(self.kv)
        self.correlator = Correlator(policy, self.topology, utc_now, state)
        log.info(
            "correlation_started", incidents=len(state.incidents),
            devices=len(self.topology.registry.devices), topology=policy.topology.enabled,
        )
        runtime.consume(_ANOMALIES, self.handle_anomalies, after_publish=self._commit_anomalies)
        runtime.consume(_STATUSES, self.handle_statuses, after_publish=self._commit_statuses)
        runtime.spawn(self._refresh_registry(first_retry=registry is None), "correlation:registry")

    async def stop(self) -> None:
        # Nothing to flush: every acked batch is persisted, an unacked one comes back.
        return None

    def routers(self) -> list[APIRouter]:
        return []

    # --- batches ------------------------------------------------------------------------------

    async def handle_anomalies(self, items: list[Incoming]) -> list[Sequence[Outgoing] | BaseException]:
        await self._begin(_ANOMALIES)
        assert self.correlator
        results: list[Sequence[Outgoing] | BaseException] = []
        try:
            for item in items:
                anomaly: EnrichedAnomaly = item.message  # type: ignore[assignment]
                with tracking(anomaly.tracking_id):
                    results.append(self._correlate(anomaly))
            self.correlator.expire()
        except Exception as exc:  # noqa: BLE001 - all-or-nothing: the batch is rolled back and retried
            log.error("correlation_batch_failed", error=repr(exc), count=len(items))
            self._failed = True
            return [exc] * len(items)
        return results

    def _correlate(self, anomaly: EnrichedAnomaly) -> list[Outgoing]:
        assert self.correlator
        started_clock = time.perf_counter()
        started = utc_now()
        result = self.correlator.correlate(anomaly)
        if result is None:
            metrics.STAGE_LATENCY.labels(STAGE).observe(time.perf_counter() - started_clock)
            log.debug("anomaly_already_correlated", anomaly_id=anomaly.anomaly_id)
            return []
        change = incident_change(result, anomaly.stamped(STAGE, self.name, started))
        subject = INCIDENTS_CREATED if result.change == "created" else INCIDENTS_UPDATED
        self._labels[result.label] += 1
        metrics.STAGE_LATENCY.labels(STAGE).observe(time.perf_counter() - started_clock)
        # The anomaly is part of the id: after a crash between publish and persist, the state is
        # replayed from before that batch and a different anomaly may come first and get the same
        # version; with `<incident_id>:<version>` alone JetStream would drop that real change as a
        # duplicate (docs/RELIABILITY.md, found by `make chaos`).
        return [Outgoing(subject, change, msg_id(result.incident.incident_id, result.incident.version, anomaly.anomaly_id))]

    async def handle_statuses(self, items: list[Incoming]) -> list[Sequence[Outgoing] | BaseException]:
        await self._begin(_STATUSES)
        assert self.correlator
        results: list[Sequence[Outgoing] | BaseException] = []
        try:
            for item in items:
                change: IncidentChange = item.message  # type: ignore[assignment]
                if change.change != "status":
                    results.append(Rejected(f"incidents.status carries change='status', got {change.change!r}"))
                    continue
                applied = self.correlator.apply_status(change)
                log.info(
                    "operator_status", incident_id=change.incident.incident_id,
                    status=change.incident.status.value, applied=applied,
                )
                results.append([])
        except Exception as exc:  # noqa: BLE001 - all-or-nothing, as for anomalies
            log.error("status_batch_failed", error=repr(exc), count=len(items))
            self._failed = True
            return [exc] * len(items)
        return results

    # --- transactions -------------------------------------------------------------------------

    async def _begin(self, consumer: str) -> None:
        if self._holder == consumer:
            # This consumer's previous batch never reached its persist step (its publish failed):
            # nothing of it was acked, so start again from the persisted state. Until that
            # succeeds the in-memory state must never be persisted.
            self._failed = True
            await self._rollback()
            return
        await asyncio.wait_for(self._lock.acquire(), timeout=LOCK_WAIT_SECONDS)
        self._holder = consumer

    async def _commit(self, consumer: str) -> None:
        """Persists the batch's state changes (the bus calls it after publishing, before acking).
        A consumer that never got the lock (its handler timed out waiting) has nothing to commit."""
        assert self.correlator and self.kv
        if self._holder != consumer:
            return
        if self._failed:
            await self._rollback()
        else:
            pending = self.correlator.pending()
            if pending:
                await save_pending(self.kv, pending)
                self.correlator.persisted(pending)
            for label, count in self._labels.items():
                metrics.INCIDENT_CHANGES.labels(label).inc(count)
            self._labels.clear()
        self._holder = None
        self._lock.release()

    async def _commit_anomalies(self) -> None:
        await self._commit(_ANOMALIES)

    async def _commit_statuses(self) -> None:
        await self._commit(_STATUSES)

    async def _rollback(self) -> None:
        assert self.correlator and self.kv
        self.correlator.load(await load_state(self.kv))
        self._labels.clear()
        self._failed = False
        log.warning("correlation_rolled_back", incidents=len(self.correlator.incidents))

    # --- device registry ----------------------------------------------------------------------

    async def _load_registry(self) -> DeviceRegistry | None:
        assert self.runtime
        try:
            rows = await self.runtime.store.query(LOAD_DEVICES_SQL)
        except Exception as exc:  # noqa: BLE001 - correlate without topology until the store answers
            log.warning("device_registry_unavailable", error=repr(exc))
            return None
        return DeviceRegistry.of([device_from_row(r) for r in rows])

    async def _refresh_registry(self, *, first_retry: bool) -> None:
        assert self.runtime and self.topology
        delay = REGISTRY_RETRY_SECONDS if first_retry else self.registry_refresh_seconds
        while not self.runtime.stop.is_set():
            try:
                await asyncio.wait_for(self.runtime.stop.wait(), timeout=delay)
                return
            except asyncio.TimeoutError:
                pass
            registry = await self._load_registry()
            if registry is None:
                delay = REGISTRY_RETRY_SECONDS
                continue
            self.topology.replace(registry)
            delay = self.registry_refresh_seconds
