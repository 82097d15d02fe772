"""Ship-to-shore wiring, started by the incident-api role: on a ship, the outbox forwarder
(INCIDENTS → redacted → SHORE_OUTBOX); on a shore hub, the fleet consumer (FLEET → the hub's store).
The transfer between the two is JetStream sourcing over the leaf-node link, not code here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiops_core import metrics
from aiops_core.bus import Incoming, Outgoing, Rejected
from aiops_core.logging import StructuredLogger, tracking
from aiops_core.models import IncidentStatus, utc_now
from aiops_core.runtime import Runtime
from services.incident_api.handlers import Rows
from services.shore_sync import handlers

log = StructuredLogger.get_logger(__name__, service="shore-sync")

WriteRows = Callable[[Rows], Awaitable[None]]

# The outbox is store-and-forward over a satellite link: a batch may wait two seconds to fill, so
# that the versions a fault's fan-in makes of one incident meet in it and only the newest leaves.
OUTBOX_LINGER_SECONDS = 2.0
OUTBOX_BATCH = 500


async def start_shore_sync(runtime: Runtime, write: WriteRows, operator_status: dict[str, IncidentStatus]) -> None:
    """Spawns the consumer this node's side of the sync needs; `write` and `operator_status` are
    the incident-api's, so the hub stores incidents exactly as a ship does."""
    settings = runtime.settings
    if settings.is_shore:
        runtime.consume("fleet", fleet_writer(write, operator_status), batch=500)
        log.info("fleet_sync_started", ships=settings.fleet_ship_ids())
    else:
        outbox = handlers.Outbox(runtime.policy.privacy, runtime.policy.notify.shore_sync)
        runtime.consume("shore-outbox", outbox_forwarder(outbox), batch=OUTBOX_BATCH, linger_seconds=OUTBOX_LINGER_SECONDS)
        log.info("shore_outbox_started", shore=settings.shore_leaf_url,
                 incidents=runtime.policy.privacy.shore_sync.incidents)


def outbox_forwarder(outbox: handlers.Outbox):
    async def forward_batch(items: list[Incoming]) -> list[Sequence[Outgoing] | BaseException]:
        """Each input's redacted copy, or nothing for those a newer version in the batch makes
        pointless (acked with the batch: the newer one carries their state)."""
        skipped = handlers.superseded([item.message for item in items])
        metrics.SHORE_OUTBOX_COALESCED.inc(len(skipped))
        results: list[Sequence[Outgoing] | BaseException] = []
        for index, item in enumerate(items):
            if index in skipped:
                results.append([])
                continue
            with tracking(getattr(item.message, "tracking_id", None)):
                started = utc_now()
                try:
                    out = outbox.message_for(item.message, started=started)
                except Exception as exc:  # noqa: BLE001 - the runner decides retry or DLQ
                    results.append(exc)
                    continue
                metrics.STAGE_LATENCY.labels(handlers.OUTBOX_STAGE).observe((utc_now() - started).total_seconds())
                results.append([out] if out else [])
            # A redaction of a fan-in incident takes a millisecond or more and nobody waits for the
            # outbox: the fast path's messages go between two, not after the whole batch (a batch
            # held the node's event loop for up to 36 ms at 1,000 lines/s).
            await asyncio.sleep(0)
        return results

    return forward_batch


def fleet_writer(write: WriteRows, operator_status: dict[str, IncidentStatus]):
    async def store_batch(items: list[Incoming]) -> list[Sequence[Outgoing] | BaseException]:
        """One insert per table for the batch; a store failure retries it (rows are idempotent)."""
        started = utc_now()
        rows = Rows()
        results: list[Sequence[Outgoing] | BaseException] = []
        for item in items:
            try:
                handlers.add_fleet_message(rows, item.message, stored_at=started, operator_status=operator_status)
                results.append([])
            except Rejected as exc:
                results.append(exc)
        await write(rows)
        metrics.STAGE_LATENCY.labels(handlers.FLEET_STAGE).observe((utc_now() - started).total_seconds())
        return results

    return store_batch
