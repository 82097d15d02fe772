"""The incident-api's rows written behind, in bulk: incident rows (served from memory until
then, recent.py) and their detail rows (anomalies, timeline events, trace stamps).

The fast path ends when an incident is stored, durable and served by the API. Written with
every batch, its row and the three detail inserts were each a new part for the embedded engine,
which runs one call at a time: at 1,000 lines/s that was 48 incident inserts a second, most of
the engine's time and most of the fast path's tail. Gathered from every batch for a moment,
they are four inserts per `linger_seconds` whatever the rate, one row per incident (its newest).

A batch's inputs are acked only once its rows are stored (bus.AckAfter): a crash before then
redelivers them, and the tables collapse the rows written twice. `on_written` hears of every
incident whose row is stored, so the API lets go of the change it held in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiops_core.logging import StructuredLogger
from aiops_core.models import Incident
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


class WriteBehind:
    def __init__(self, store: Store, linger_seconds: float = LINGER_SECONDS,
                 on_written: Callable[[list[Incident]], None] | None = None) -> None:
        self.store = store
        self.linger_seconds = linger_seconds
        self.on_written = on_written
        self._pending = handlers.Rows()
        self._waiting: list[asyncio.Future[None]] = []
        self._flush: asyncio.Task | None = None

    def add(self, rows: handlers.Rows) -> asyncio.Future[None]:
        """Queues the batch's incident and detail rows; the future completes once they are
        stored (or fails)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not (rows.incidents or rows.anomalies or rows.events or rows.traces):
            done.set_result(None)
            return done
        self._pending.incidents.extend(rows.incidents)
        self._pending.anomalies.extend(rows.anomalies)
        self._pending.events.extend(rows.events)
        self._pending.traces.extend(rows.traces)
        self._waiting.append(done)
        if self._flush is None:
            self._flush = asyncio.create_task(self._flush_after_linger(), name="incident-api:write-behind")
        return done

    async def _flush_after_linger(self) -> None:
        await asyncio.sleep(self.linger_seconds)
        rows, waiting = self._pending, self._waiting
        self._pending, self._waiting, self._flush = handlers.Rows(), [], None
        incidents = handlers.newest(rows.incidents)
        try:
            await asyncio.gather(
                self.store.insert("incidents", handlers.INCIDENT_COLUMNS, [handlers.incident_row(i) for i in incidents]),
                insert_details(self.store, rows),
            )
        except Exception as exc:  # noqa: BLE001 - every waiting batch is redelivered
            log.warning("incident_rows_store_failed", error=repr(exc), batches=len(waiting))
            for future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        if self.on_written is not None:
            self.on_written(incidents)
        for future in waiting:
            if not future.done():
                future.set_result(None)
