"""The enrichment role's wiring: consumes `anomaly.detected` (durable `enrichment`), publishes
`anomaly.enriched`, and keeps the device registry and the context cache fresh in a background
task. Messages are enriched from memory only; the store is read by the background task alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter
from prometheus_client import Counter

from aiops_core import metrics
from aiops_core.bus import ANOMALY_ENRICHED, DUPLICATE_WINDOW_SECONDS, Incoming, Outgoing, msg_id
from aiops_core.devices import LOAD_DEVICES_SQL, DeviceRegistry, device_from_row
from aiops_core.logging import StructuredLogger, tracking
from aiops_core.models import AnomalyDetected, utc_now
from aiops_core.policy import EscalationRule
from aiops_core.runtime import Runtime
from aiops_core.store import Store, StoreUnavailable
from services.enrichment import queries
from services.enrichment.handlers import SERVICE, STAGE, correlation_windows, enrich
from services.enrichment.history import ContextCache, Level, StoreRead

log = StructuredLogger.get_logger(__name__, service="enrichment")

# Anomalies pulled and enriched at once: about 60 µs each, so the last of a full batch waits a
# few milliseconds in this stage instead of the ~15 ms a batch of the default 256 would cost.
ENRICH_BATCH = 64

ENRICHMENTS = Counter(
    "aiops_enrichments_total", "Anomalies enriched, by level (full, basic).",
    ["level"], registry=metrics.REGISTRY,
)


@dataclass(frozen=True)
class EnrichmentConfig:
    """How the background task keeps the store view fresh, and when it counts as stale."""

    # Registry reload and count reconciliation period.
    refresh_every_seconds: float = 30.0
    # After a failed refresh, the next try comes sooner so "basic" ends soon after the store is back.
    retry_after_failure_seconds: float = 5.0
    # The staleness bound: enrichment is "basic" once the last successful reconcile is this old
    # (three missed periods), even if no attempt has failed (e.g. the refresh task is stuck).
    stale_after_seconds: float = 90.0
    # Longest wait for one store read before the attempt counts as failed.
    store_timeout_seconds: float = 5.0
    # Store rows merged between two yields to the event loop (a few milliseconds of work), so a
    # big reconcile never stalls the messages being enriched for long.
    merge_slice: int = 500


class EnrichmentRole:
    name = "enrichment"

    def __init__(self, config: EnrichmentConfig | None = None, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config or EnrichmentConfig()
        self.clock = clock
        self.runtime: Runtime | None = None
        self.registry = DeviceRegistry()
        self.cache: ContextCache | None = None
        self.rules: Sequence[EscalationRule] = ()
        self._refresh_task: asyncio.Task | None = None
        # Last outcome of each refresh part: failures are logged when they start, not every retry.
        self._store_ok: bool | None = None
        self._registry_ok: bool | None = None

    async def start(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.rules = runtime.policy.correlate.severity_map
        self.cache = ContextCache(
            type_windows=correlation_windows(runtime.policy.correlate),
            stale_after_seconds=self.config.stale_after_seconds,
            seen_ttl_seconds=DUPLICATE_WINDOW_SECONDS,
        )
        # One bounded warm-up before consuming; if the store is down the role starts in basic mode.
        warmed = await self.refresh()
        self._refresh_task = runtime.spawn(self._refresh_forever(warmed), "enrichment:refresh")
        runtime.consume("enrichment", self.handle_batch, batch=ENRICH_BATCH)

    async def stop(self) -> None:
        if self._refresh_task is not None:
            self._refresh_task.cancel()

    def routers(self) -> list[APIRouter]:
        return []

    def level(self) -> Level:
        """The enrichment level a message handled now would get."""
        assert self.cache is not None
        return self.cache.level(self.clock())

    # --- the hot path ---------------------------------------------------------------------------

    async def handle_batch(self, items: list[Incoming]) -> list[Sequence[Outgoing] | BaseException]:
        assert self.runtime is not None and self.cache is not None
        started = self.clock()
        began = time.perf_counter()
        delay_ms = self.runtime.settings.fault_injection_delay_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        results: list[Sequence[Outgoing] | BaseException] = []
        for item in items:
            anomaly: AnomalyDetected = item.message  # type: ignore[assignment]
            with tracking(anomaly.tracking_id):
                try:
                    enriched = enrich(
                        anomaly, registry=self.registry, cache=self.cache, rules=self.rules, now=self.clock()
                    ).stamped(STAGE, SERVICE, started, self.clock())
                except Exception as exc:  # noqa: BLE001 - the bus retries it, then dead-letters it
                    results.append(exc)
                    continue
            results.append([Outgoing(ANOMALY_ENRICHED, enriched, msg_id(anomaly.anomaly_id, "enriched"))])
            ENRICHMENTS.labels(enriched.enrichment_level).inc()
            metrics.STAGE_LATENCY.labels(STAGE).observe(time.perf_counter() - began)
        return results

    # --- the background refresh -----------------------------------------------------------------

    async def _refresh_forever(self, last_ok: bool) -> None:
        assert self.runtime is not None
        stop = self.runtime.stop
        while True:
            delay = self.config.refresh_every_seconds if last_ok else self.config.retry_after_failure_seconds
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except asyncio.TimeoutError:
                pass
            last_ok = await self.refresh()

    async def refresh(self) -> bool:
        """Reloads the registry and reconciles the counts with the store; False if the store
        failed (the cache is then marked failed and enrichment is basic until the next success)."""
        assert self.runtime is not None and self.cache is not None
        # Looked up on every refresh, not kept: the role follows whatever store the runtime holds.
        store = self.runtime.store
        await self._refresh_registry(store)
        as_of = self.clock()
        try:
            reads, incident_rows = await asyncio.wait_for(
                self._read_history(store, as_of), timeout=self.config.store_timeout_seconds
            )
            for read, rows in reads:
                for start in range(0, len(rows), self.config.merge_slice):
                    self.cache.merge(read, rows[start : start + self.config.merge_slice], self.clock())
                    await asyncio.sleep(0)
            self.cache.replace_last_incidents(incident_rows)
            self.cache.sweep(self.clock())
        except (StoreUnavailable, asyncio.TimeoutError) as exc:
            self.cache.mark_failed()
            self._store_state(False, error=repr(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a bad row must not end the refresh loop
            self.cache.mark_failed()
            log.error("history_refresh_crashed", error=repr(exc), exc_info=True)
            self._store_state(False, error=repr(exc))
            return False
        self.cache.mark_reconciled(as_of)
        self._store_state(True)
        return True

    async def _refresh_registry(self, store: Store) -> None:
        try:
            rows = await asyncio.wait_for(store.query(LOAD_DEVICES_SQL), timeout=self.config.store_timeout_seconds)
            registry = DeviceRegistry.of([device_from_row(row) for row in rows])
        except Exception as exc:  # noqa: BLE001 - the last good registry stays in use
            if self._registry_ok is not False:
                log.warning("registry_refresh_failed", error=repr(exc), devices_kept=len(self.registry.devices))
            self._registry_ok = False
            return
        self.registry = registry
        self._registry_ok = True

    async def _read_history(
        self, store: Store, as_of: datetime
    ) -> tuple[list[tuple[StoreRead, list[dict]]], list[dict]]:
        assert self.cache is not None
        reads = []
        for read in self.cache.store_reads():
            rows = await store.query(
                queries.ANOMALY_BUCKETS[read.shape],
                {"bucket_seconds": read.bucket_seconds, "since": as_of - timedelta(seconds=read.window_seconds)},
            )
            reads.append((read, rows))
        return reads, await store.query(queries.LAST_INCIDENTS)

    def _store_state(self, ok: bool, error: str | None = None) -> None:
        """Logs the transitions only: a store that stays down does not flood the log."""
        if ok == self._store_ok:
            return
        self._store_ok = ok
        if ok:
            log.info("history_refreshed", level=self.level(), devices=len(self.registry.devices))
        else:
            log.warning("history_refresh_failed", error=error, level="basic")
