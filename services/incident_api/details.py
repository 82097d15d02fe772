"""The incident-api's detail rows (anomalies, timeline events, trace stamps), written in bulk.

The fast path ends when an incident's row is stored; its detail rows feed the trace, the
timeline and the stats, which are read seconds later. Written with every batch they were three
more inserts for each one on the critical path, each a new part for the embedded engine, which
runs one call at a time: at 1,000 lines/s the incident rows queued behind them. Gathered from
every batch for a moment, they are three inserts per `linger_seconds` whatever the rate.

A batch's inputs are acked only once its detail rows are stored (bus.AckAfter): a crash before
then redelivers them, and the tables collapse the rows written twice."""

from __future__ import annotations

import asyncio

from aiops_core.logging import StructuredLogger
from aiops_core.store import Store
from services.incident_api import handlers

log = StructuredLogger.get_logger(__name__, service="incident-api")

LINGER_SECONDS = 0.5


async def insert_details(store: Store, rows: handlers.Rows) -> None:
    """The anomaly, trace and timeline rows, side by side on the store's threads."""
    await asyncio.gather(
        store.insert("anomalies", handlers.ANOMALY_COLUMNS, rows.anomalies),
        store.insert("pipeline_trace", handlers.TRACE_COLUMNS, rows.traces),
        store.insert("incident_events", handlers.EVENT_COLUMNS, rows.events),
    )


class DetailWriter:
    def __init__(self, store: Store, linger_seconds: float = LINGER_SECONDS) -> None:
        self.store = store
        self.linger_seconds = linger_seconds
        self._pending = handlers.Rows()
        self._waiting: list[asyncio.Future[None]] = []
        self._flush: asyncio.Task | None = None

    def add(self, rows: handlers.Rows) -> asyncio.Future[None]:
        """Queues the batch's detail rows; the future completes once they are stored (or fails)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not (rows.anomalies or rows.events or rows.traces):
            done.set_result(None)
            return done
        self._pending.anomalies.extend(rows.anomalies)
        self._pending.events.extend(rows.events)
        self._pending.traces.extend(rows.traces)
        self._waiting.append(done)
        if self._flush is None:
            self._flush = asyncio.create_task(self._flush_after_linger(), name="incident-api:details")
        return done

    async def _flush_after_linger(self) -> None:
        await asyncio.sleep(self.linger_seconds)
        rows, waiting = self._pending, self._waiting
        self._pending, self._waiting, self._flush = handlers.Rows(), [], None
        try:
            await insert_details(self.store, rows)
        except Exception as exc:  # noqa: BLE001 - every waiting batch is redelivered
            log.warning("incident_details_store_failed", error=repr(exc), batches=len(waiting))
            for future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for future in waiting:
            if not future.done():
                future.set_result(None)
