"""The insight cache on the real ClickHouse engine (chDB): TTL, the store behind the memory front."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from aiops_core.models import Insight, utc_now
from services.llm_enricher.cache import InsightCache as _InsightCache

pytestmark = pytest.mark.integration


def InsightCache(store, ttl_seconds):  # noqa: N802 - reads like the class it builds
    """The cache with a patient store timeout: the shared chDB can be busy with other tests."""
    return _InsightCache(store, ttl_seconds, store_timeout_seconds=10)


def llm_insight(text: str) -> Insight:
    return Insight(root_cause=text, impact="guests offline", recommendations=["fail over"], confidence=0.7,
                   source="llm", model="phi3:mini", generated_at=utc_now(), latency_ms=900)


async def test_an_insight_written_by_one_cache_is_read_by_another(store):
    """A fresh cache (a restart, another replica) finds the entry in llm_cache, then in memory."""
    signature = uuid.uuid4().hex
    now = utc_now()
    await InsightCache(store, 3600).put(signature, llm_insight("rain fade"), now)

    restarted = InsightCache(store, 3600)
    found = await restarted.get(signature, now + timedelta(seconds=5))
    assert found is not None and found.root_cause == "rain fade"
    assert restarted.size == 1


async def test_warm_loads_unexpired_entries_only(store):
    """Warming at start loads live entries into memory and skips expired ones."""
    live, expired = uuid.uuid4().hex, uuid.uuid4().hex
    now = utc_now()
    await InsightCache(store, 3600).put(live, llm_insight("live"), now)
    await InsightCache(store, 60).put(expired, llm_insight("old"), now - timedelta(hours=2))

    warmed = InsightCache(store, 3600)
    await warmed.warm(now)
    # Memory hits need no store: take the store away to prove it.
    warmed.store = None
    assert (await warmed.get(live, now)).root_cause == "live"
    assert await warmed.get(expired, now) is None


async def test_entries_expire_after_the_ttl(store):
    """After the TTL the signature is a miss, in memory and in the store."""
    signature = uuid.uuid4().hex
    now = utc_now()
    cache = InsightCache(store, 60)
    await cache.put(signature, llm_insight("short-lived"), now)
    assert await cache.get(signature, now + timedelta(seconds=30)) is not None
    assert await cache.get(signature, now + timedelta(seconds=61)) is None
    assert await InsightCache(store, 60).get(signature, now + timedelta(seconds=61)) is None
