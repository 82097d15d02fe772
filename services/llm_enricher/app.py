"""The llm-enricher role's wiring: consumes `incidents.created` / `incidents.updated` /
`incidents.status` (durable `llm-enricher`), explains incidents (RAG, cache, LLM or fallback)
and publishes EnrichedIncident on `incidents.enriched`; resolved incidents go into the RAG
index with their resolution."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter

from aiops_core import metrics
from aiops_core.bus import INCIDENTS_ENRICHED, Incoming, Outgoing
from aiops_core.devices import LOAD_DEVICES_SQL, DeviceRegistry, device_from_row
from aiops_core.logging import StructuredLogger, tracking
from aiops_core.models import EnrichedAnomaly, Incident, IncidentChange, IncidentStatus, utc_now
from aiops_core.runtime import Runtime
from services.llm_enricher import handlers, queries
from services.llm_enricher.breaker import CircuitBreaker
from services.llm_enricher.cache import InsightCache
from services.llm_enricher.embeddings import Embedder, shared_embedder
from services.llm_enricher.knowledge import Runbook, load_runbooks
from services.llm_enricher.llm_client import ChatClient, GuardedLlm, make_client
from services.llm_enricher.rag import (
    KnowledgeIndex,
    Retrieval,
    RunbookHit,
    incident_text,
    metadata_retrieval,
    open_index,
    passages_of,
)
from services.llm_enricher.scheduler import LlmScheduler

log = StructuredLogger.get_logger(__name__, service="llm-enricher")

# Incident changes are few; a small batch keeps the time one batch waits on the LLM short.
BATCH = 32
# Jobs waiting for an LLM worker; beyond that the fallback goes out at once.
QUEUE_LIMIT = 16
# Retrieval waits for the index (model still loading at start) at most this long, and keeps at
# least RETRIEVAL_RESERVE_SECONDS of the budget for the LLM or the fallback.
RETRIEVAL_WAIT_SECONDS = 2.0
RETRIEVAL_RESERVE_SECONDS = 1.5
RETRIEVAL_TIMEOUT_SECONDS = 2.0
DEVICE_RELOAD_SECONDS = 300.0
# Resolved incidents re-embedded per trip to the embedder: live explanations queue behind each.
REEMBED_CHUNK = 8


class LlmEnricherRole:
    name = "llm-enricher"

    def __init__(self, *, embedder: Embedder | None = None) -> None:
        self.runtime: Runtime | None = None
        self.embedder = embedder or shared_embedder()
        self.registry = DeviceRegistry()
        self.runbooks: list[Runbook] = []
        self.cache: InsightCache | None = None
        self.client: ChatClient | None = None
        self.scheduler: LlmScheduler | None = None
        self.index: KnowledgeIndex | None = None
        self.index_ready = asyncio.Event()
        self.coalescer = handlers.Coalescer()
        # Explained incidents waiting for their publish to succeed (see _commit).
        self._pending: list[tuple[Incident, datetime, str, bool]] = []

    async def start(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings, policy = runtime.settings, runtime.policy
        # Loading the model takes seconds: start now, on its own thread.
        self.embedder.start_loading()
        self.runbooks, problems = load_runbooks(settings.knowledge_dir)
        for problem in problems:
            log.error("runbook_invalid", problem=problem)
        await self._load_devices()
        self.client = make_client(settings, policy.llm)
        self.cache = InsightCache(runtime.store, policy.llm.cache_ttl_seconds, read_through=self.client is not None)
        try:
            await self.cache.warm(utc_now())
        except Exception as exc:  # noqa: BLE001 - a cold cache only costs LLM calls
            log.warning("llm_cache_warm_failed", error=repr(exc))
        if self.client is not None:
            breaker = CircuitBreaker(policy.llm.circuit_breaker.failure_threshold, policy.llm.circuit_breaker.reset_seconds)
            self.scheduler = LlmScheduler(
                GuardedLlm(self.client, breaker, timeout_seconds=policy.llm.timeout_seconds),
                workers=policy.llm.max_concurrency, queue_limit=QUEUE_LIMIT,
            )
            self.scheduler.start(runtime.spawn)
            runtime.spawn(self._probe_llm(), "llm-enricher:probe")
        else:
            metrics.LLM_UP.set(0)
        log.info(
            "llm_enricher_starting", runbooks=len(self.runbooks), cached_insights=self.cache.size,
            llm=settings.ollama_url if self.client else None, model=policy.llm.model if self.client else None,
        )
        runtime.spawn(self._prepare_index(), "llm-enricher:index")
        runtime.spawn(self._reload_devices(), "llm-enricher:devices")
        runtime.consume("llm-enricher", self.handle_batch, batch=BATCH, after_publish=self._commit)

    async def stop(self) -> None:
        if self.scheduler:
            await self.scheduler.stop()
        if self.client:
            await self.client.aclose()

    def routers(self) -> list[APIRouter]:
        return []

    # --- start-up -------------------------------------------------------------------------
    async def _load_devices(self) -> None:
        assert self.runtime
        rows = await self.runtime.store.query(LOAD_DEVICES_SQL)
        self.registry = DeviceRegistry.of([device_from_row(r) for r in rows])

    async def _reload_devices(self) -> None:
        assert self.runtime
        while not await _stopped_within(self.runtime, DEVICE_RELOAD_SECONDS):
            try:
                await self._load_devices()
            except Exception as exc:  # noqa: BLE001 - the last registry stays in use
                log.warning("device_reload_failed", error=repr(exc))

    async def _prepare_index(self) -> None:
        """Opens the index, creates the collections and (re)indexes the runbooks when the
        collection is empty or any runbook changed (content hash). Retries until it works:
        in compose Qdrant may start after this role."""
        assert self.runtime
        runtime = self.runtime
        delay = 1.0
        while not runtime.stop.is_set():
            try:
                if self.index is None:
                    self.index = await asyncio.to_thread(open_index, runtime.settings, runtime.policy.llm.rag)
                await self.index.ensure_collections()
                await self.embedder.wait_ready()
                if await self.index.needs_runbook_index(self.runbooks):
                    vectors = await self.embedder.encode([p.text for p in passages_of(self.runbooks)])
                    count = await self.index.index_runbooks(self.runbooks, vectors)
                    log.info("runbooks_indexed", runbooks=len(self.runbooks), passages=count)
                self.index_ready.set()
                log.info("rag_index_ready")
                runtime.spawn(self._reembed_incidents(), "llm-enricher:reembed")
                return
            except Exception as exc:  # noqa: BLE001 - retried; meanwhile retrieval uses front-matter
                log.error("rag_index_unavailable", error=repr(exc), retry_in_seconds=delay)
                if await _stopped_within(runtime, delay):
                    return
                delay = min(delay * 2, 30.0)

    async def _reembed_incidents(self) -> None:
        """Resolved incidents indexed from an older `incident_text` are embedded again from their
        documents in the store, so that new incidents meet them in the same space. Those no
        longer in the store keep their vector. Retried at the next start if it fails."""
        assert self.runtime is not None and self.index is not None
        try:
            outdated = await self.index.outdated_incidents()
            done = gone = 0
            for start in range(0, len(outdated), REEMBED_CHUNK):
                chunk = outdated[start:start + REEMBED_CHUNK]
                rows = await self.runtime.store.query(queries.INCIDENTS_BY_ID, {"ids": [i.incident_id for i in chunk]})
                docs = {row["id"]: Incident.model_validate_json(row["doc"]) for row in rows}
                found = [(indexed, docs[indexed.incident_id]) for indexed in chunk if indexed.incident_id in docs]
                gone += len(chunk) - len(found)
                vectors = await self.embedder.encode([incident_text(incident, i.device_kind) for i, incident in found])
                for (indexed, incident), vector in zip(found, vectors, strict=True):
                    await self.index.upsert_incident(incident, indexed.device_kind, indexed.resolution, vector)
                done += len(found)
        except Exception as exc:  # noqa: BLE001 - the old vectors still answer, less well
            log.warning("incident_reembed_failed", error=repr(exc)[:300])
            return
        if outdated:
            log.info("resolved_incidents_reembedded", incidents=done, not_in_store=gone)

    async def _probe_llm(self) -> None:
        assert self.client and self.runtime
        try:
            names = await self.client.models()
        except Exception as exc:  # noqa: BLE001 - reported; requests will use the fallback
            metrics.LLM_UP.set(0)
            log.warning("llm_unreachable", url=self.runtime.settings.ollama_url, error=repr(exc))
            return
        metrics.LLM_UP.set(1)
        wanted = self.client.model
        if not any(name == wanted or name.split(":")[0] == wanted for name in names):
            log.warning("llm_model_missing", model=wanted, available=names[:20],
                        hint="run scripts/init_ollama.sh to pull it")

    # --- the consumer ---------------------------------------------------------------------
    async def handle_batch(self, items: list[Incoming]) -> list[Sequence[Outgoing] | BaseException]:
        self._pending = []
        changes: list[IncidentChange] = [item.message for item in items]  # type: ignore[misc]
        results: list[Sequence[Outgoing] | BaseException] = [[] for _ in items]
        newest = handlers.latest_per_incident(changes)
        now = utc_now()
        jobs: list[int] = []
        for index, change in enumerate(changes):
            incident = change.incident
            if change.change == "status":
                if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.SUPPRESSED):
                    self.coalescer.forget(incident.incident_id)
                if handlers.is_resolution(change):
                    try:
                        await self._learn(incident)
                    except Exception as exc:  # noqa: BLE001 - retried by the bus
                        results[index] = exc
                continue
            if index in newest and self.coalescer.should_explain(incident, now):
                jobs.append(index)
        # Most severe first: they reach the LLM queue first.
        jobs.sort(key=lambda i: -changes[i].incident.severity.rank)
        outcomes = await asyncio.gather(*(self._explain(changes[i]) for i in jobs), return_exceptions=True)
        for index, outcome in zip(jobs, outcomes, strict=True):
            results[index] = outcome if isinstance(outcome, BaseException) else [outcome]
        return results

    async def _commit(self) -> None:
        """The batch's insights are stored in JetStream: remember them and count them once."""
        for incident, at, source, cached in self._pending:
            self.coalescer.explained(incident, at)
            metrics.INSIGHTS.labels(source).inc()
            if cached:
                metrics.LLM_CACHE_HITS.inc()
        self._pending = []

    async def _explain(self, change: IncidentChange) -> Outgoing:
        assert self.runtime is not None and self.cache is not None
        incident = change.incident
        with tracking(change.trigger.tracking_id if change.trigger else None):
            started = utc_now()
            policy = self.runtime.policy
            kind = self.device_kind(incident, change.trigger)
            deadline = handlers.deadline_of(incident, policy)
            retrieval = await self.retrieve(incident, kind, deadline)
            explanation = await handlers.explain(
                incident, kind, retrieval, cache=self.cache, llm=self.scheduler, clock=utc_now,
                started=started, deadline=deadline, llm_wait_seconds=policy.llm.timeout_seconds,
                privacy=policy.privacy,
            )
            finished = utc_now()
            insight = explanation.insight
            metrics.STAGE_LATENCY.labels(handlers.STAGE).observe((finished - started).total_seconds())
            self._pending.append((incident, finished, insight.source, insight.cached))
            log.info(
                "incident_explained", incident_id=incident.incident_id, version=incident.version,
                source=insight.source, cached=insight.cached, llm_outcome=explanation.llm_outcome,
                runbooks=insight.runbook_ids, latency_ms=round(insight.latency_ms, 1),
            )
            return Outgoing(
                INCIDENTS_ENRICHED,
                handlers.enriched(incident, insight, started=started, finished=finished),
                handlers.enriched_msg_id(incident),
            )

    def device_kind(self, incident: Incident, trigger: EnrichedAnomaly | None) -> str | None:
        device = self.registry.get(incident.ship_id, incident.root_cause_device)
        if device is not None and device.kind != "unknown":
            return device.kind
        if trigger and trigger.device_id == incident.root_cause_device and trigger.context.device:
            return trigger.context.device.kind
        return None

    async def retrieve(self, incident: Incident, kind: str | None, deadline: datetime) -> Retrieval:
        """Semantic retrieval when the index is ready; by front-matter when it is not (model
        still loading, Qdrant down), so the fallback still names the right runbook."""
        assert self.runtime
        rag = self.runtime.policy.llm.rag
        room = (deadline - utc_now()).total_seconds() - RETRIEVAL_RESERVE_SECONDS
        if not self.index_ready.is_set() and room > 0:
            try:
                await asyncio.wait_for(self.index_ready.wait(), timeout=min(room, RETRIEVAL_WAIT_SECONDS))
            except asyncio.TimeoutError:
                pass
        if self.index_ready.is_set() and self.index is not None:
            try:
                return await asyncio.wait_for(self._semantic(incident, kind), timeout=RETRIEVAL_TIMEOUT_SECONDS)
            except Exception as exc:  # noqa: BLE001 - degraded retrieval below
                log.warning("retrieval_failed", incident_id=incident.incident_id, error=repr(exc))
        hits = metadata_retrieval(self.runbooks, incident.incident_type.value, kind, rag.top_k, incident_text(incident, kind))
        return Retrieval(hits, [])

    async def _semantic(self, incident: Incident, kind: str | None) -> Retrieval:
        assert self.runtime is not None and self.index is not None
        rag = self.runtime.policy.llm.rag
        [vector] = await self.embedder.encode([incident_text(incident, kind)])
        found, similar = await self.index.search(vector, rag.top_k, rag.min_similarity,
                                                 exclude_incident_id=incident.incident_id)
        by_id = {r.id: r for r in self.runbooks}
        hits = [RunbookHit(by_id[rid], score) for rid, score in found if rid in by_id]
        return Retrieval(hits, similar)

    async def _learn(self, incident: Incident) -> None:
        """Puts a resolved incident and its resolution into the `incidents` collection."""
        if not self.index_ready.is_set() or self.index is None:
            raise RuntimeError("RAG index not ready yet")
        kind = self.device_kind(incident, None)
        [vector] = await self.embedder.encode([incident_text(incident, kind)])
        resolution = handlers.resolution_of(incident)
        await self.index.upsert_incident(incident, kind, resolution, vector)
        log.info("resolved_incident_indexed", incident_id=incident.incident_id, has_resolution=resolution is not None)


async def _stopped_within(runtime: Runtime, seconds: float) -> bool:
    try:
        await asyncio.wait_for(runtime.stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        return False
    return True
