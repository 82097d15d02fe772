"""The RAG index in Qdrant: collection `runbooks` (runbook passages) and `incidents` (resolved
incidents with their resolution), both 384-d cosine.

Local mode (`QdrantClient(path=<data_dir>/qdrant)`) when no QDRANT_URL is set. Local Qdrant
locks its directory to one process and is not safe to drive from several threads, so each
location is opened once per process and every call goes through that location's own worker
thread (never the event loop)."""

from __future__ import annotations

import asyncio
import atexit
import math
import re
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from aiops_core.models import Incident, SimilarIncident
from aiops_core.policy import RagSettings
from aiops_core.settings import Settings
from services.llm_enricher.embeddings import DIMENSIONS
from services.llm_enricher.knowledge import Passage, Runbook, knowledge_hash

# Point ids are uuid5 of the runbook passage / incident id, so indexing twice overwrites.
_POINT_NAMESPACE = uuid.UUID("0b5e8a52-2f3c-4d4e-9a8f-6f1d3c2b7a10")
_SCROLL_PAGE = 1000


class IndexLocked(RuntimeError):
    """The local Qdrant directory is held by another process (a running node)."""


@dataclass(frozen=True)
class RunbookHit:
    runbook: Runbook
    score: float
    # False when chosen by incident type and device kind because embeddings were not ready.
    semantic: bool = True


@dataclass(frozen=True)
class Retrieval:
    runbooks: list[RunbookHit]
    similar: list[SimilarIncident]


@dataclass(frozen=True)
class IndexedIncident:
    """A resolved incident's point, as it was indexed (its vector aside)."""

    incident_id: str
    device_kind: str | None
    resolution: str | None


@dataclass
class _Location:
    client: QdrantClient
    executor: ThreadPoolExecutor


_locations: dict[str, _Location] = {}
_locations_lock = threading.Lock()


def _open(url: str | None, path: Path | None) -> _Location:
    key = url or f"path:{Path(path).resolve()}"  # type: ignore[arg-type]
    with _locations_lock:
        location = _locations.get(key)
        if location is None:
            if url:
                client = QdrantClient(url=url, timeout=10)
            else:
                Path(path).mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
                try:
                    client = QdrantClient(path=str(Path(path).resolve()))  # type: ignore[arg-type]
                except RuntimeError as exc:
                    if "already accessed" in str(exc):
                        raise IndexLocked(
                            f"the local Qdrant directory {path} is in use by another process "
                            "(a running `aiops up` node holds it)"
                        ) from exc
                    raise
            location = _Location(client, ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant"))
            _locations[key] = location
        return location


@atexit.register
def _close_all() -> None:
    # Local Qdrant flushes and releases its directory lock on close; at interpreter exit its own
    # __del__ runs too late (imports are gone) and complains.
    with _locations_lock:
        for location in _locations.values():
            try:
                location.client.close()
            except Exception:  # noqa: BLE001 - exiting anyway
                pass
        _locations.clear()


def runbook_point_id(runbook_id: str, part: str) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, f"runbook:{runbook_id}:{part}"))


def incident_point_id(incident_id: str) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, f"incident:{incident_id}"))


def passages_of(runbooks: Sequence[Runbook]) -> list[Passage]:
    return [p for runbook in runbooks for p in runbook.passages()]


# Bumped when `incident_text` changes what is embedded: the node re-embeds the resolved incidents
# it indexed with an older text (LlmEnricherRole._reembed_incidents).
INCIDENT_TEXT_VERSION = "incident-text-v2"

# Addresses, ids and counters in log lines: word pieces that say nothing about the fault.
_NOISE = re.compile(
    r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?:[:#]\d{1,5})?(?![\w.])"  # IPv4, with prefix or port
    r"|\b(?:[0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}\b"  # MAC
    r"|@?\b0[xX][0-9a-fA-F]+\b"  # memory addresses
    r"|(?<![\w.])\d{5,}(?![\w.])"  # pids, session ids, byte counts
)
_LONE_PUNCTUATION = re.compile(r"(?<!\S)[^\w\s]+(?!\S)")
_SPACES = re.compile(r"\s+")


def incident_text(incident: Incident, device_kind: str | None, max_evidence: int = 3) -> str:
    """How an incident reads to the embedding model: only what identifies the fault, so that a
    fault reads the same on another device or another day and is not near other faults through
    shared boilerplate. `<type> on <device kind>: <log patterns matched>; <up to 3 distinct
    evidence lines, the root device's first>`, with addresses and ids scrubbed. Correlation's
    title and reason are left out (device names and topology, alike for every fault); an
    incident without evidence (opened by hand) reads as its title and description."""
    where = device_kind.replace("_", " ") if device_kind and device_kind != "unknown" else incident.root_cause_device
    lines = _evidence_lines(incident, max_evidence) or [t for t in (incident.title, incident.root_cause_reason) if t]
    what = [*_patterns_matched(incident, max_evidence), *lines]
    return f"{incident.incident_type.value.replace('_', ' ')} on {where}: " + "; ".join(what)


def _patterns_matched(incident: Incident, limit: int) -> list[str]:
    names: list[str] = []
    for evidence in incident.evidence:
        detail = evidence.get("detail") if isinstance(evidence.get("detail"), dict) else {}
        name = str(detail.get("pattern") or "").replace("-", " ").replace("_", " ").strip()
        if name and name not in names:
            names.append(name)
    return names[:limit]


def _evidence_lines(incident: Incident, limit: int) -> list[str]:
    """Evidence messages, one per template, the root device's own first: downstream symptoms
    (a payment timeout behind a dead link) are alike for many faults."""
    ordered = sorted(incident.evidence, key=lambda e: e.get("device_id") != incident.root_cause_device)
    seen: set[str] = set()
    lines: list[str] = []
    for evidence in ordered:
        message = str(evidence.get("message") or evidence.get("template") or "")
        key = str(evidence.get("template") or message).strip().lower()
        line = scrubbed(message)[:300]
        if line and key not in seen:
            seen.add(key)
            lines.append(line)
        if len(lines) >= limit:
            break
    return lines


def scrubbed(message: str) -> str:
    """A log message without its addresses, ids and stray punctuation."""
    text = _LONE_PUNCTUATION.sub(" ", _NOISE.sub(" ", message))
    return _SPACES.sub(" ", text).strip(" .;,:")


def open_index(settings: Settings, rag: RagSettings) -> KnowledgeIndex:
    """The node's index: the Qdrant server at QDRANT_URL, else local Qdrant in <data_dir>/qdrant."""
    if settings.qdrant_url:
        return KnowledgeIndex(rag, url=settings.qdrant_url)
    return KnowledgeIndex(rag, path=settings.data_dir / "qdrant")


class KnowledgeIndex:
    """The two collections behind one location (a local directory or a Qdrant server)."""

    def __init__(self, rag: RagSettings, *, url: str | None = None, path: Path | None = None) -> None:
        if not url and path is None:
            raise ValueError("a Qdrant URL or a local path is needed")
        self.rag = rag
        self._location = _open(url, path)
        self.client = self._location.client
        self.runbooks_collection = rag.collections.runbooks
        self.incidents_collection = rag.collections.incidents

    async def _run(self, fn, *args) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._location.executor, fn, *args)

    def run_sync(self, fn, *args) -> Any:
        """Runs a call on the location's thread from synchronous code (tools, scripts)."""
        return self._location.executor.submit(fn, *args).result()

    # --- collections ----------------------------------------------------------------------
    def ensure_collections_sync(self) -> list[str]:
        """Creates the collections that are missing; returns the names it created."""
        created = []
        for name in (self.runbooks_collection, self.incidents_collection):
            if self.client.collection_exists(name):
                vectors = self.client.get_collection(name).config.params.vectors
                size = getattr(vectors, "size", None)
                if size != DIMENSIONS:
                    raise RuntimeError(f"Qdrant collection {name} has {size}-d vectors, expected {DIMENSIONS}")
                continue
            self.client.create_collection(
                name, vectors_config=models.VectorParams(size=DIMENSIONS, distance=models.Distance.COSINE)
            )
            created.append(name)
        return created

    async def ensure_collections(self) -> list[str]:
        return await self._run(self.ensure_collections_sync)

    # --- runbooks ---------------------------------------------------------------------------
    def indexed_knowledge_hash_sync(self) -> str | None:
        """The knowledge hash the runbook points were built from; None if empty or mixed."""
        hashes: set[str] = set()
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.runbooks_collection, limit=_SCROLL_PAGE, offset=offset,
                with_payload=["knowledge_hash"], with_vectors=False,
            )
            hashes.update(str(p.payload.get("knowledge_hash")) for p in points if p.payload)
            if offset is None:
                break
        return hashes.pop() if len(hashes) == 1 else None

    def needs_runbook_index_sync(self, runbooks: Sequence[Runbook]) -> bool:
        return self.indexed_knowledge_hash_sync() != knowledge_hash(list(runbooks))

    def index_runbooks_sync(self, runbooks: Sequence[Runbook], vectors: Sequence[Sequence[float]]) -> int:
        """Replaces the collection's content with the runbooks' passages; `vectors` are the
        embeddings of `passages_of(runbooks)`, in order. Returns the number of passages."""
        passages = passages_of(runbooks)
        titles = {r.id: r.title for r in runbooks}
        version = knowledge_hash(list(runbooks))
        points = [
            models.PointStruct(
                id=runbook_point_id(p.runbook_id, p.part), vector=list(vector),
                payload={"runbook_id": p.runbook_id, "part": p.part, "title": titles[p.runbook_id],
                         "text": p.text, "knowledge_hash": version},
            )
            for p, vector in zip(passages, vectors, strict=True)
        ]
        if points:
            self.client.upsert(self.runbooks_collection, points=points, wait=True)
        keep = {str(p.id) for p in points}
        stale: list[str] = []
        offset = None
        while True:
            found, offset = self.client.scroll(
                self.runbooks_collection, limit=_SCROLL_PAGE, offset=offset, with_payload=False, with_vectors=False
            )
            stale.extend(str(p.id) for p in found if str(p.id) not in keep)
            if offset is None:
                break
        if stale:
            self.client.delete(self.runbooks_collection, points_selector=models.PointIdsList(points=stale), wait=True)
        return len(points)

    async def needs_runbook_index(self, runbooks: Sequence[Runbook]) -> bool:
        return await self._run(self.needs_runbook_index_sync, runbooks)

    async def index_runbooks(self, runbooks: Sequence[Runbook], vectors: Sequence[Sequence[float]]) -> int:
        return await self._run(self.index_runbooks_sync, runbooks, vectors)

    def search_runbooks_sync(self, vector: Sequence[float], top_k: int, min_similarity: float) -> list[tuple[str, float]]:
        """Runbook ids with their best passage's similarity, best first."""
        result = self.client.query_points(
            self.runbooks_collection, query=list(vector), limit=top_k * 4,
            score_threshold=min_similarity, with_payload=["runbook_id"],
        )
        best: dict[str, float] = {}
        for point in result.points:
            runbook_id = str(point.payload.get("runbook_id")) if point.payload else ""
            if runbook_id and point.score > best.get(runbook_id, -1.0):
                best[runbook_id] = point.score
        return sorted(best.items(), key=lambda item: -item[1])[:top_k]

    # --- incidents --------------------------------------------------------------------------
    def upsert_incident_sync(self, incident: Incident, device_kind: str | None, resolution: str | None,
                             vector: Sequence[float]) -> str:
        point_id = incident_point_id(incident.incident_id)
        self.client.upsert(self.incidents_collection, points=[models.PointStruct(
            id=point_id, vector=list(vector),
            payload={
                "incident_id": incident.incident_id, "ship_id": incident.ship_id, "title": incident.title,
                "incident_type": incident.incident_type.value, "root_cause_device": incident.root_cause_device,
                "device_kind": device_kind or "unknown", "resolution": resolution,
                "resolved_at": incident.updated_at.isoformat(), "text_version": INCIDENT_TEXT_VERSION,
            },
        )], wait=True)
        return point_id

    def outdated_incidents_sync(self) -> list[IndexedIncident]:
        """The incidents embedded from another `incident_text` than today's (older points carry
        no version at all)."""
        current = models.Filter(must_not=[models.FieldCondition(
            key="text_version", match=models.MatchValue(value=INCIDENT_TEXT_VERSION),
        )])
        outdated: list[IndexedIncident] = []
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.incidents_collection, scroll_filter=current, limit=_SCROLL_PAGE, offset=offset,
                with_payload=["incident_id", "device_kind", "resolution"], with_vectors=False,
            )
            for point in points:
                payload = point.payload or {}
                if not payload.get("incident_id"):
                    continue
                kind, resolution = payload.get("device_kind"), payload.get("resolution")
                outdated.append(IndexedIncident(
                    str(payload["incident_id"]), None if kind in (None, "unknown") else str(kind),
                    str(resolution) if resolution else None,
                ))
            if offset is None:
                break
        return outdated

    async def outdated_incidents(self) -> list[IndexedIncident]:
        return await self._run(self.outdated_incidents_sync)

    async def upsert_incident(self, incident: Incident, device_kind: str | None, resolution: str | None,
                              vector: Sequence[float]) -> str:
        return await self._run(self.upsert_incident_sync, incident, device_kind, resolution, vector)

    def search_incidents_sync(self, vector: Sequence[float], top_k: int, min_similarity: float,
                              exclude_incident_id: str | None = None) -> list[SimilarIncident]:
        query_filter = None
        if exclude_incident_id:
            query_filter = models.Filter(must_not=[models.FieldCondition(
                key="incident_id", match=models.MatchValue(value=exclude_incident_id),
            )])
        result = self.client.query_points(
            self.incidents_collection, query=list(vector), limit=top_k, score_threshold=min_similarity,
            query_filter=query_filter, with_payload=True,
        )
        similar = []
        for point in result.points:
            payload = point.payload or {}
            similar.append(SimilarIncident(
                incident_id=str(payload.get("incident_id", point.id))[:256],
                title=str(payload.get("title", ""))[:256],
                similarity=round(float(point.score), 4),
                resolution=(str(payload["resolution"])[:16000] if payload.get("resolution") else None),
            ))
        return similar

    def search_sync(self, vector: Sequence[float], top_k: int, min_similarity: float,
                    exclude_incident_id: str | None = None) -> tuple[list[tuple[str, float]], list[SimilarIncident]]:
        return (self.search_runbooks_sync(vector, top_k, min_similarity),
                self.search_incidents_sync(vector, top_k, min_similarity, exclude_incident_id))

    async def search(self, vector: Sequence[float], top_k: int, min_similarity: float,
                     exclude_incident_id: str | None = None) -> tuple[list[tuple[str, float]], list[SimilarIncident]]:
        """Runbooks (ids with their best passage's similarity) and similar resolved incidents, in
        one trip to the location's thread: each trip back waits for a turn on a busy event loop."""
        return await self._run(self.search_sync, vector, top_k, min_similarity, exclude_incident_id)


_WORD = re.compile(r"[a-z][a-z0-9]{2,}")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def metadata_retrieval(runbooks: Sequence[Runbook], incident_type: str, device_kind: str | None,
                       top_k: int, text: str = "") -> list[RunbookHit]:
    """Runbooks chosen without embeddings: what the fallback uses while the model is still
    loading or the index is unreachable. Only runbooks for the incident's type; those for the
    device's kind first, then by words shared between `text` (the incident) and the runbook's
    title and symptoms, then the runbook's primary type."""
    incident_words = _words(text)
    scored = []
    for runbook in runbooks:
        types = [t.value for t in runbook.meta.incident_types]
        if incident_type not in types:
            continue
        kind_match = bool(device_kind) and device_kind in runbook.meta.device_kinds
        runbook_words = _words(" ".join([runbook.title, *runbook.meta.symptoms]))
        overlap = len(incident_words & runbook_words) / math.sqrt(len(runbook_words) or 1)
        scored.append((not kind_match, -overlap, types[0] != incident_type, runbook.id, runbook))
    scored.sort(key=lambda item: item[:4])
    return [RunbookHit(item[4], 0.0, semantic=False) for item in scored[:top_k]]
