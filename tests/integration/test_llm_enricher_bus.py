"""The llm-enricher role's wiring on a real JetStream server, the real ClickHouse engine (chDB),
a real local Qdrant and the real embeddings: incident changes in, EnrichedIncident out, from
the fallback without an LLM and from the LLM test double with one; resolved incidents feed
retrieval."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager

import pytest

from aiops_core.bus import INCIDENTS_CREATED, INCIDENTS_ENRICHED, INCIDENTS_STATUS, INCIDENTS_UPDATED, Bus, Outgoing
from aiops_core.models import EnrichedIncident, IncidentStatus, Severity, TimelineEvent, utc_now
from aiops_core.runtime import Runtime
from aiops_core.settings import Settings
from services.llm_enricher.app import LlmEnricherRole
from services.llm_enricher.cache import signature_of
from tests.insight_support import change, make_incident, policy
from tests.llm_double import llm_double  # noqa: F401 - fixture
from tests.support import async_wait_until

pytestmark = pytest.mark.integration


@asynccontextmanager
async def running_role(nats_server, store, tmp_path, ollama_url: str | None):
    """The role started on its own runtime, with its RAG index ready, and a collector of
    everything JetStream stored on incidents.enriched."""
    bus = await Bus.connect(nats_server.url, role="test")
    await bus.ensure_topology(max_deliver=5, ack_wait_seconds=30)
    settings = Settings(data_dir=tmp_path, ollama_url=ollama_url, qdrant_url=None)
    runtime = Runtime(settings=settings, policy=policy(), bus=bus, store=store)
    role = LlmEnricherRole()
    outputs: dict[str, list[EnrichedIncident]] = {}

    async def on_enriched(msg) -> None:
        enriched = EnrichedIncident.model_validate_json(msg.data)
        outputs.setdefault(enriched.incident_id, []).append(enriched)
        await msg.ack()

    subscription = await bus.js.subscribe(INCIDENTS_ENRICHED, cb=on_enriched, manual_ack=True)
    try:
        await role.start(runtime.for_role("llm-enricher"))
        await asyncio.wait_for(role.index_ready.wait(), timeout=120)
        yield role, bus, outputs
    finally:
        runtime.stop.set()
        await role.stop()
        if runtime.tasks:
            await asyncio.wait(runtime.tasks, timeout=15)
        await subscription.unsubscribe()
        await bus.close()


async def publish(bus: Bus, subject: str, incident, kind: str) -> None:
    await bus.publish(Outgoing(subject, change(incident, kind), f"{incident.incident_id}:{incident.version}:{kind}:{uuid.uuid4()}"))


async def enriched_of(outputs, incident_id: str, count: int = 1) -> list[EnrichedIncident]:
    async def arrived():
        found = outputs.get(incident_id, [])
        return found if len(found) >= count else None

    return await async_wait_until(arrived, timeout=30)


async def test_without_llm_every_incident_gets_the_fallback_insight(nats_server, store, tmp_path):
    """No LLM configured: a created incident yields an EnrichedIncident with a fallback insight
    from the right runbook, the trace convention, and one output per version even when the
    change is delivered twice."""
    async with running_role(nats_server, store, tmp_path, None) as (role, bus, outputs):
        incident = make_incident(ship_id=f"ship-{uuid.uuid4().hex[:8]}")
        await publish(bus, INCIDENTS_CREATED, incident, "created")
        [out] = await enriched_of(outputs, incident.incident_id)

        assert out.insight.source == "fallback"
        assert out.insight.runbook_ids[0] == "rb-vsat-rain-fade"
        assert out.insight.recommendations and out.insight.root_cause
        assert out.incident_version == 1
        assert [s.stage for s in out.trace] == ["incident", "llm-enricher"]
        assert out.trace[0].at == incident.updated_at

        # The same change again (a redelivery from upstream), then a sentinel to know it was handled.
        await publish(bus, INCIDENTS_CREATED, incident, "created")
        sentinel = make_incident(ship_id=incident.ship_id, device="fw-01")
        await publish(bus, INCIDENTS_CREATED, sentinel, "created")
        await enriched_of(outputs, sentinel.incident_id)
        assert len(outputs[incident.incident_id]) == 1

        # A severity change is explained again, as a new version.
        escalated = incident.model_copy(update={"version": 2, "severity": Severity.CRITICAL, "updated_at": utc_now()})
        await publish(bus, INCIDENTS_UPDATED, escalated, "updated")
        outs = await enriched_of(outputs, incident.incident_id, count=2)
        assert outs[1].incident_version == 2


async def test_with_llm_the_insight_comes_from_the_model_and_is_cached(nats_server, store, tmp_path, llm_double):
    """With the LLM reachable the insight is source llm and stored in llm_cache; a second
    identical incident is served from the cache without calling the model."""
    async with running_role(nats_server, store, tmp_path, llm_double.url) as (role, bus, outputs):
        ship = f"ship-{uuid.uuid4().hex[:8]}"
        first = make_incident(ship_id=ship, device=f"vsat-{uuid.uuid4().hex[:6]}")
        await publish(bus, INCIDENTS_CREATED, first, "created")
        [out] = await enriched_of(outputs, first.incident_id)
        assert out.insight.source == "llm"
        assert out.insight.model == "phi3:mini"
        assert not out.insight.cached
        assert llm_double.chat_count == 1

        rows = await store.query(
            "SELECT model FROM aiops.llm_cache WHERE signature = {s:String}", {"s": signature_of(first, None)}
        )
        assert [r["model"] for r in rows] == ["phi3:mini"]

        second = make_incident(ship_id=ship, device=first.root_cause_device)
        await publish(bus, INCIDENTS_CREATED, second, "created")
        [again] = await enriched_of(outputs, second.incident_id)
        assert again.insight.source == "llm" and again.insight.cached
        assert llm_double.chat_count == 1


async def test_llm_down_still_delivers_the_fallback(nats_server, store, tmp_path, llm_double):
    """A model server that errors yields the fallback insight for the incident."""
    llm_double.mode = "error"
    async with running_role(nats_server, store, tmp_path, llm_double.url) as (role, bus, outputs):
        incident = make_incident(ship_id=f"ship-{uuid.uuid4().hex[:8]}", device=f"vsat-{uuid.uuid4().hex[:6]}")
        await publish(bus, INCIDENTS_CREATED, incident, "created")
        [out] = await enriched_of(outputs, incident.incident_id)
        assert out.insight.source == "fallback"
        assert llm_double.chat_count == 1


async def test_resolved_incident_improves_later_insights(nats_server, store, tmp_path):
    """An incident resolved by an operator goes into the incidents collection with its
    resolution; the next similar incident lists it and what fixed it."""
    async with running_role(nats_server, store, tmp_path, None) as (role, bus, outputs):
        ship = f"ship-{uuid.uuid4().hex[:8]}"
        past = make_incident(ship_id=ship)
        await publish(bus, INCIDENTS_CREATED, past, "created")
        await enriched_of(outputs, past.incident_id)
        event = TimelineEvent(at=utc_now(), kind="status", actor="alice", summary="alice set status open → resolved")
        resolved = past.model_copy(update={"status": IncidentStatus.RESOLVED, "version": 2, "updated_at": utc_now(),
                                           "timeline": [event],
                                           "resolution": "moved traffic to Starlink until the squall passed"})
        await publish(bus, INCIDENTS_STATUS, resolved, "status")

        async def indexed():
            return role.index.client.count(role.index.incidents_collection).count == 1

        await async_wait_until(indexed, timeout=30)

        later = make_incident(ship_id=ship, title="VSAT SNR low again in heavy rain")
        await publish(bus, INCIDENTS_CREATED, later, "created")
        [out] = await enriched_of(outputs, later.incident_id)
        assert [s.incident_id for s in out.insight.similar_incidents] == [past.incident_id]
        assert any("moved traffic to Starlink" in r for r in out.insight.recommendations)


async def test_incidents_indexed_from_an_older_text_are_embedded_again_at_start(nats_server, store, tmp_path):
    """A resolved incident indexed before the embedded text changed (no text version on its
    point) gets today's vector from its document in the store, keeping its resolution."""
    from services.incident_api import handlers as api
    from services.llm_enricher.embeddings import shared_embedder
    from services.llm_enricher.rag import INCIDENT_TEXT_VERSION, KnowledgeIndex, incident_point_id, incident_text

    past = make_incident(ship_id=f"ship-{uuid.uuid4().hex[:8]}").model_copy(
        update={"status": IncidentStatus.RESOLVED, "resolution": "moved traffic to Starlink"})
    await store.insert("incidents", api.INCIDENT_COLUMNS, [api.incident_row(past)])
    index = KnowledgeIndex(policy().llm.rag, path=tmp_path / "qdrant")
    index.run_sync(index.ensure_collections_sync)
    [old_vector] = shared_embedder().encode_sync([f"{past.title}. {past.root_cause_reason}"])
    index.run_sync(index.upsert_incident_sync, past, None, "moved traffic to Starlink", old_vector)
    index.run_sync(lambda: index.client.delete_payload(index.incidents_collection, keys=["text_version"],
                                                       points=[incident_point_id(past.incident_id)], wait=True))
    assert index.run_sync(index.outdated_incidents_sync)[0].incident_id == past.incident_id

    async with running_role(nats_server, store, tmp_path, None) as (role, bus, outputs):
        async def reembedded():
            return not await role.index.outdated_incidents()

        await async_wait_until(reembedded, timeout=30)
        [point] = role.index.run_sync(lambda: role.index.client.retrieve(
            role.index.incidents_collection, [incident_point_id(past.incident_id)], with_payload=True, with_vectors=True))
        [expected] = shared_embedder().encode_sync([incident_text(past, None)])
        assert sum(a * b for a, b in zip(point.vector, expected, strict=True)) > 0.9999
        assert point.payload["text_version"] == INCIDENT_TEXT_VERSION
        assert point.payload["resolution"] == "moved traffic to Starlink"
