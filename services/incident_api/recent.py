"""Incidents whose newest change is not in the store yet, served from memory meanwhile.

The fast path ends when an incident is stored: durable and served by the API. The change is
durable from the moment correlation published it (the INCIDENTS stream, on disk), and the
incident-api acks it only once its row is in the store. So the row can be written behind, in
bulk with the detail rows, while the API serves the change from here: a one-row insert into the
embedded engine took 8 ms at p50 and 22 ms at p99 of engine time, one call at a time, and was
most of the fast path's tail. After a crash the unacked change is redelivered and written.
While the store is down the changes stay held (the bus retries their batches in place); a row
the store refuses outright goes the DLQ way after the consumer's deliveries, and its change
stays served from here until the process restarts.

Reads merge the two: a held incident replaces its stored row (whatever that row's version), so
the store is asked for the rest with the held ids excluded, and the pages, counts and stats are
put together here. The order is the store's: last_seen descending, then the incident id as the
engine orders UUIDs.

Pure logic, no I/O, apart from `list_incidents` and `load_incident` at the end."""

from __future__ import annotations

import asyncio
import bisect
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiops_core.models import Incident, IncidentStatus
from aiops_core.store import Store
from services.incident_api import handlers, queries


@dataclass(frozen=True)
class IncidentFilter:
    """The incident list's filters, as the SQL applies them ('' matches any)."""

    ship_id: str = ""
    status: str = ""
    severity: str = ""
    incident_type: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def params(self) -> dict[str, Any]:
        return {
            "ship_id": self.ship_id, "status": self.status, "severity": self.severity,
            "incident_type": self.incident_type,
            "since": self.since or queries.EPOCH, "until": self.until or queries.FAR_FUTURE,
        }

    def matches(self, incident: Incident) -> bool:
        return (
            (not self.ship_id or incident.ship_id == self.ship_id)
            and (not self.status or incident.status.value == self.status)
            and (not self.severity or incident.severity.value == self.severity)
            and (not self.incident_type or incident.incident_type.value == self.incident_type)
            and (self.since is None or _as_stored(incident.last_seen) >= self.since)
            and (self.until is None or _as_stored(incident.first_seen) <= self.until)
        )


class RecentIncidents:
    """The newest change of each incident not yet written, by incident id."""

    def __init__(self) -> None:
        self._held: dict[str, Incident] = {}

    def __len__(self) -> int:
        return len(self._held)

    def put(self, incident: Incident) -> None:
        """Holds the change unless a newer one of the incident is held already."""
        handlers.keep_newest(self._held, incident)

    def get(self, incident_id: str) -> Incident | None:
        return self._held.get(incident_id)

    def written(self, incidents: Iterable[Incident]) -> None:
        """The store has these versions of the incidents: a held change no newer is let go."""
        for incident in incidents:
            held = self._held.get(incident.incident_id)
            if held is not None and handlers.row_version(held) <= handlers.row_version(incident):
                del self._held[incident.incident_id]

    def ids(self) -> list[str]:
        return list(self._held)

    def matching(self, where: IncidentFilter) -> list[Incident]:
        """The held incidents the filter matches, in the store's order."""
        return sorted((i for i in self._held.values() if where.matches(i)), key=store_order)

    def counts(self, since: datetime) -> list[dict[str, Any]]:
        """Held incidents active since `since`, counted as the stats query groups stored ones."""
        groups: dict[tuple[str, str, str, str], int] = {}
        for incident in self._held.values():
            if _as_stored(incident.last_seen) >= since:
                key = (incident.ship_id, incident.severity.value, incident.status.value, incident.incident_type.value)
                groups[key] = groups.get(key, 0) + 1
        return [
            {"ship_id": ship, "severity": severity, "status": status, "incident_type": kind, "n": n}
            for (ship, severity, status, kind), n in groups.items()
        ]


def store_order(incident: Incident) -> tuple[int, int, int]:
    """The list's order as the engine sorts it: last_seen descending at the column's millisecond
    precision, then the UUID, which ClickHouse compares by its low 64 bits before its high ones."""
    high, low = struct.unpack(">QQ", uuid.UUID(incident.incident_id).bytes)
    return (-_millis(incident.last_seen), low, high)


def stored_window(offset: int, limit: int, held: int) -> tuple[int, int]:
    """The store's page (offset, limit) that holds every stored incident of the page
    [offset, offset + limit) when `held` incidents from memory may come before them."""
    return max(0, offset - held), limit + held


def merge_page(held: list[Incident], stored: list[Incident], *, window: tuple[int, int],
               offset: int, limit: int) -> list[Incident]:
    """The page [offset, offset + limit) of the held and stored incidents in one order.

    `held` are in the store's order (`matching`); `stored` is the store's page asked with
    `window` (`stored_window` for `len(held)`), held ids excluded. Every incident of the wanted
    page is in one of the two lists. A stored incident's place in the whole list is its place
    among the stored ones plus the held ones before it. A held incident's is its place among the
    held ones plus the stored ones before it, counted here from the stored page: exact for one
    that falls among or just after that page; one before it (the page starts at offset - held)
    or after a full page (it ends at offset + limit) gets a place outside the wanted page either
    way."""
    stored_from, _ = window
    held_keys = [store_order(i) for i in held]
    stored_keys = [store_order(i) for i in stored]
    placed: list[tuple[int, Incident]] = []
    for index, incident in enumerate(stored):
        placed.append((stored_from + index + bisect.bisect_left(held_keys, stored_keys[index]), incident))
    for index, incident in enumerate(held):
        placed.append((stored_from + bisect.bisect_left(stored_keys, held_keys[index]) + index, incident))
    placed.sort(key=lambda p: p[0])
    return [incident for place, incident in placed if offset <= place < offset + limit]


async def list_incidents(store: Store, recent: RecentIncidents, where: IncidentFilter, *,
                         offset: int, limit: int) -> tuple[list[Incident], int]:
    """A page of the incident list and the list's length, held and stored incidents merged."""
    held = recent.matching(where)
    params = {**where.params(), "held": recent.ids()}
    window = stored_window(offset, limit, len(held))
    # Side by side on the store's threads: each reads the whole history.
    rows, total = await asyncio.gather(
        store.query(queries.LIST_INCIDENTS, {**params, "offset": window[0], "limit": window[1]}),
        store.scalar(queries.COUNT_INCIDENTS, params),
    )
    page = merge_page(held, [incident_from_row(r) for r in rows], window=window, offset=offset, limit=limit)
    return page, int(total or 0) + len(held)


async def load_incident(store: Store, recent: RecentIncidents, incident_id: str) -> Incident | None:
    """One incident as the API serves it: the held change, else the stored row."""
    held = recent.get(incident_id)
    if held is not None:
        return held
    rows = await store.query(queries.GET_INCIDENT, {"incident_id": incident_id})
    return incident_from_row(rows[0]) if rows else None


def incident_from_row(row: dict[str, Any]) -> Incident:
    """A stored incident: its document, with the status column winning (an operator's change is
    written as a newer row, but a replayed document may lag)."""
    incident = Incident.model_validate_json(row["doc"])
    if row.get("status") and row["status"] != incident.status.value:
        incident = incident.model_copy(update={"status": IncidentStatus(row["status"])})
    return incident


def _millis(value: datetime) -> int:
    # Integer arithmetic: a float timestamp times 1,000 can land a millisecond short.
    return (value - queries.EPOCH) // timedelta(milliseconds=1)


def _as_stored(value: datetime) -> datetime:
    """A time as a DateTime64(3) column holds it (the filters compare it with µs parameters)."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)
