"""The insight cache: LLM insights by incident signature in ClickHouse's `llm_cache`, with the
policy's TTL, behind an in-memory LRU front so a hit costs no store round trip.

Only LLM insights are cached: the fallback is cheap to rebuild, and caching it would keep the
LLM's better answer away once the LLM is back."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Protocol

from aiops_core.logging import StructuredLogger
from aiops_core.models import Incident, Insight
from aiops_core.store import Store, StoreUnavailable
from services.llm_enricher import queries

log = StructuredLogger.get_logger(__name__, service="llm-enricher")

MAX_TEMPLATES = 10
# The store is only a second chance here: waiting longer on it would eat the insight budget.
STORE_TIMEOUT_SECONDS = 0.5


def signature_of(incident: Incident, device_kind: str | None) -> str:
    """What makes two incidents the same question for the LLM: type, severity, the root device
    and its kind, the detectors, and what was matched (log rule, metric or template).

    Counts, times and ids are left out, so a recurrence of the same fault is a hit."""
    markers: set[str] = set()
    for evidence in incident.evidence:
        detail = evidence.get("detail") if isinstance(evidence.get("detail"), dict) else {}
        marker = detail.get("pattern") or evidence.get("metric") or evidence.get("template") or evidence.get("detector")
        if marker:
            markers.add(str(marker)[:200])
    parts = [
        incident.incident_type.value,
        incident.severity.value,
        device_kind or "unknown",
        incident.root_cause_device,
        ",".join(sorted(set(incident.detectors))),
        "|".join(sorted(markers)[:MAX_TEMPLATES]),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


class CachePort(Protocol):
    async def get(self, signature: str, now: datetime) -> Insight | None: ...

    async def put(self, signature: str, insight: Insight, now: datetime) -> None: ...


class InsightCache:
    """`read_through=False`: a miss in memory is a miss, the store is not asked. For a node with
    no LLM: nothing it explains is ever written there, the warmed front holds what an LLM wrote
    before, and its fallback should not wait on a store that the fast path keeps busy."""

    def __init__(self, store: Store | None, ttl_seconds: int, *, max_entries: int = 10_000,
                 store_timeout_seconds: float = STORE_TIMEOUT_SECONDS, read_through: bool = True) -> None:
        self.store = store
        self.store_timeout = store_timeout_seconds
        self.read_through = read_through
        self.ttl = timedelta(seconds=ttl_seconds)
        self.max_entries = max_entries
        self._memory: OrderedDict[str, tuple[Insight, datetime]] = OrderedDict()

    @property
    def size(self) -> int:
        """Entries in the in-memory front."""
        return len(self._memory)

    async def warm(self, now: datetime) -> int:
        """Loads the newest unexpired entries so hits after a restart need no store round trip."""
        if self.store is None or self.ttl.total_seconds() <= 0:
            return 0
        rows = await self.store.query(queries.WARM_CACHE, {"now": now, "limit": self.max_entries})
        for row in reversed(rows):
            self._remember(row["signature"], Insight.model_validate_json(row["insight"]), row["valid_until"])
        return len(rows)

    async def get(self, signature: str, now: datetime) -> Insight | None:
        entry = self._memory.get(signature)
        if entry is not None:
            insight, expires_at = entry
            if expires_at > now:
                self._memory.move_to_end(signature)
                return insight
            del self._memory[signature]
            return None
        if self.store is None or not self.read_through or self.ttl.total_seconds() <= 0:
            return None
        # Another replica may have written it, or the LRU evicted it.
        try:
            rows = await asyncio.wait_for(
                self.store.query(queries.GET_CACHE, {"signature": signature, "now": now}), self.store_timeout
            )
        except (StoreUnavailable, asyncio.TimeoutError) as exc:
            log.warning("llm_cache_read_failed", error=repr(exc)[:300])
            return None
        if not rows:
            return None
        insight = Insight.model_validate_json(rows[0]["insight"])
        self._remember(signature, insight, rows[0]["valid_until"])
        return insight

    async def put(self, signature: str, insight: Insight, now: datetime) -> None:
        if self.ttl.total_seconds() <= 0:
            return
        expires_at = now + self.ttl
        self._remember(signature, insight, expires_at)
        if self.store is None:
            return
        try:
            # On timeout the insert still completes on the store's thread; only the wait ends.
            await asyncio.wait_for(self.store.insert("llm_cache", queries.CACHE_COLUMNS, [[
                signature, insight.model_dump_json(), insight.model or "", now, expires_at,
            ]]), self.store_timeout)
        except (StoreUnavailable, asyncio.TimeoutError) as exc:
            # The insight is delivered anyway; only a restart would forget it.
            log.warning("llm_cache_write_failed", error=repr(exc)[:300])

    def _remember(self, signature: str, insight: Insight, expires_at: datetime) -> None:
        self._memory[signature] = (insight, expires_at)
        self._memory.move_to_end(signature)
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)
