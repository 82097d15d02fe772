"""Retrieval with the real all-MiniLM-L6-v2 embeddings and a real local Qdrant in a temp dir."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

import pytest

from aiops_core.models import IncidentStatus, IncidentType, Severity, utc_now
from services.llm_enricher.embeddings import DIMENSIONS, shared_embedder
from services.llm_enricher.handlers import resolution_of
from services.llm_enricher.knowledge import load_runbooks
from services.llm_enricher.rag import IndexLocked, KnowledgeIndex, incident_text, passages_of
from tests.insight_support import make_incident, policy, runbooks

pytestmark = pytest.mark.integration


@lru_cache(maxsize=1)
def passage_vectors() -> tuple:
    """The knowledge base's passage embeddings, computed once for the module (seconds of CPU)."""
    return tuple(shared_embedder().encode_sync([p.text for p in passages_of(list(runbooks()))]))


def fresh_index(path) -> KnowledgeIndex:
    index = KnowledgeIndex(policy().llm.rag, path=path)
    index.run_sync(index.ensure_collections_sync)
    index.run_sync(index.index_runbooks_sync, list(runbooks()), passage_vectors())
    return index


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """A local index with the knowledge base's runbooks in it, shared by the read-only tests."""
    return fresh_index(tmp_path_factory.mktemp("rag") / "qdrant")


def search(index: KnowledgeIndex, text: str) -> list[tuple[str, float]]:
    rag = policy().llm.rag
    [vector] = shared_embedder().encode_sync([text])
    return index.run_sync(index.search_runbooks_sync, vector, rag.top_k, rag.min_similarity)


def test_rain_fade_incident_retrieves_the_rain_fade_runbook_first(index):
    """A rain-fade incident as the platform writes it ranks rb-vsat-rain-fade first, above the similarity floor."""
    incident = make_incident()
    hits = search(index, incident_text(incident, "vsat_modem"))
    assert hits[0][0] == "rb-vsat-rain-fade"
    assert hits[0][1] >= policy().llm.rag.min_similarity
    assert len(hits) <= policy().llm.rag.top_k


@pytest.mark.parametrize(("text", "expected"), [
    ("auth_failure on srv-app-01: sshd Failed password for invalid user oracle from 10.30.4.17, 900 times in 2 min", "rb-ssh-brute-force"),
    ("network_issue on dhcp-01: dhcp_pool_pct 100 on the guest scope, DHCPDISCOVER no free leases", "rb-dhcp-pool-exhaustion"),
    ("resource_pressure on fw-01: fw_sessions_pct 98, conserve mode, new sessions dropped", "rb-firewall-session-exhaustion"),
])
def test_other_incident_kinds_find_their_runbook(index, text, expected):
    """Retrieval is not tuned to one example: other faults find their own runbook first."""
    assert search(index, text)[0][0] == expected


def test_unrelated_text_retrieves_nothing(index):
    """Text unrelated to ship IT stays below the similarity floor."""
    assert search(index, "the chef's tomato soup recipe needs more basil and a pinch of sugar") == []


def test_indexing_is_idempotent_and_follows_runbook_changes(tmp_path):
    """Re-indexing the same runbooks keeps one point per passage; the knowledge hash tells when
    a runbook changed."""
    index = fresh_index(tmp_path / "qdrant")
    loaded = list(runbooks())
    count = index.client.count(index.runbooks_collection).count
    assert count == len(passages_of(loaded))
    assert not index.run_sync(index.needs_runbook_index_sync, loaded)
    index.run_sync(index.index_runbooks_sync, loaded, passage_vectors())
    assert index.client.count(index.runbooks_collection).count == count

    changed_dir = tmp_path / "kb"
    (changed_dir / "runbooks").mkdir(parents=True)
    for rb in loaded[:3]:
        (changed_dir / "runbooks" / rb.path.name).write_text(rb.path.read_text() + "\nEdited.\n")
    fewer, problems = load_runbooks(changed_dir)
    assert not problems
    assert index.run_sync(index.needs_runbook_index_sync, fewer)
    vectors = shared_embedder().encode_sync([p.text for p in passages_of(fewer)])
    index.run_sync(index.index_runbooks_sync, fewer, vectors)
    # Runbooks that were removed from the knowledge base leave the index.
    assert index.client.count(index.runbooks_collection).count == len(passages_of(fewer))


def test_resolved_incident_is_retrieved_with_its_resolution(tmp_path):
    """A resolved incident upserted with its resolution is found for a similar new incident,
    not for an unrelated one, and never as similar to itself."""
    index = fresh_index(tmp_path / "qdrant")
    embedder = shared_embedder()
    rag = policy().llm.rag
    now = utc_now()
    past = make_incident(updated_at=now - timedelta(days=3)).model_copy(update={
        "status": IncidentStatus.RESOLVED, "resolution": "failed over to Starlink until the squall passed"})
    [vector] = embedder.encode_sync([incident_text(past, "vsat_modem")])
    index.run_sync(index.upsert_incident_sync, past, "vsat_modem", resolution_of(past), vector)
    # Upserting again (a redelivered status change) keeps one point.
    index.run_sync(index.upsert_incident_sync, past, "vsat_modem", resolution_of(past), vector)
    assert index.client.count(index.incidents_collection).count == 1

    new = make_incident(title="VSAT SNR dropping during heavy rain")
    [query] = embedder.encode_sync([incident_text(new, "vsat_modem")])
    similar = index.run_sync(index.search_incidents_sync, query, rag.top_k, rag.min_similarity, new.incident_id)
    assert [s.incident_id for s in similar] == [past.incident_id]
    assert similar[0].resolution == "failed over to Starlink until the squall passed"

    assert index.run_sync(index.search_incidents_sync, vector, rag.top_k, rag.min_similarity, past.incident_id) == []

    unrelated = make_incident(incident_type=IncidentType.AUTH_FAILURE, severity=Severity.HIGH, device="srv-app-01",
                              title="SSH brute force from the crew VLAN",
                              evidence=[{"device_id": "srv-app-01", "message": "Failed password for invalid user admin"}],
                              ).model_copy(update={"root_cause_reason": "1400 failed logins from 10.30.4.17 in 5 minutes"})
    [other] = embedder.encode_sync([incident_text(unrelated, "server")])
    assert index.run_sync(index.search_incidents_sync, other, rag.top_k, rag.min_similarity, None) == []


def test_collections_are_384d_cosine_and_creation_is_idempotent(index):
    """Both collections exist with 384-d cosine vectors; ensuring them again creates nothing."""
    for name in (index.runbooks_collection, index.incidents_collection):
        params = index.client.get_collection(name).config.params.vectors
        assert params.size == DIMENSIONS and params.distance.value == "Cosine"
    assert index.run_sync(index.ensure_collections_sync) == []


def test_local_directory_is_opened_once_per_process(tmp_path):
    """A second index on the same directory shares the open client (local Qdrant locks it)."""
    first = KnowledgeIndex(policy().llm.rag, path=tmp_path / "qdrant")
    again = KnowledgeIndex(policy().llm.rag, path=tmp_path / "qdrant")
    assert again.client is first.client


def test_directory_held_by_another_process_is_reported(tmp_path):
    """A local Qdrant directory locked by another process raises IndexLocked with a clear message."""
    import subprocess
    import sys

    path = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from qdrant_client import QdrantClient; "
        f"c = QdrantClient(path={str(path)!r}); print('ready', flush=True); time.sleep(60)"
    )], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(IndexLocked, match="running `aiops up` node"):
            KnowledgeIndex(policy().llm.rag, path=path)
    finally:
        holder.kill()
        holder.wait()


def test_eval_rag_command_reports_retrieval_quality(capsys):
    """`aiops eval rag --json` runs the labelled set and reports hit@1, hit@3 and MRR; the
    numbers guard against a retrieval regression."""
    import json

    from services.cli import main

    assert main(["eval", "rag", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["items"] >= 30
    assert report["hit_at_3"] >= 0.9 and report["hit_at_1"] >= 0.85
    assert report["hit_at_1"] <= report["hit_at_3"]
    assert 0 < report["mrr"] <= 1


SEED_RESOLVED = """
import asyncio, sys
from aiops_core.models import IncidentStatus, utc_now
from aiops_core.store import Store
from services.incident_api import handlers as api
from tests.insight_support import make_incident

async def main():
    store = Store(sys.argv[1])
    await store.start()
    incident = make_incident()
    resolved, event = api.transition(incident, IncidentStatus.RESOLVED, actor="alice", comment="squall passed",
                                     now=utc_now(), resolution="failed over to Starlink for 40 minutes")
    await store.insert("incidents", api.INCIDENT_COLUMNS, [api.incident_row(incident), api.incident_row(resolved)])
    await store.insert("incident_events", api.EVENT_COLUMNS, [api.event_row(resolved.incident_id, event)])
    await store.insert("incidents", api.INCIDENT_COLUMNS, [api.incident_row(make_incident())])
    await store.close()
    print(incident.incident_id)

asyncio.run(main())
"""


@pytest.mark.slow
def test_kb_index_command_indexes_runbooks_and_resolved_incidents(tmp_path):
    """`aiops kb index` embeds the runbooks and only the resolved incidents with their
    resolution; running it again changes no point count."""
    import subprocess
    import sys

    from qdrant_client import QdrantClient

    from aiops_core.settings import PROJECT_ROOT

    seeded = subprocess.run([sys.executable, "-c", SEED_RESOLVED, f"chdb:///{tmp_path / 'clickhouse'}"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    resolved_id = seeded.stdout.strip()
    command = [sys.executable, "-m", "services.cli", "kb", "index", "--data-dir", str(tmp_path)]
    for _ in range(2):
        run = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert "incidents: 1 resolved incidents indexed (1 with a resolution)" in run.stdout
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    try:
        assert client.count("runbooks").count == len(passages_of(list(runbooks())))
        [point] = client.scroll("incidents", with_payload=True)[0]
        assert point.payload["incident_id"] == resolved_id
        assert point.payload["resolution"] == "failed over to Starlink for 40 minutes"
    finally:
        client.close()


def test_embeddings_are_the_models_own():
    """The traced transformer gives sentence-transformers' vectors, one text at a time and in
    padded batches (the runbooks' passages, the eval descriptions)."""
    import numpy as np
    import yaml
    from sentence_transformers import SentenceTransformer

    from aiops_core.settings import PROJECT_ROOT
    from services.llm_enricher.embeddings import model_path

    texts = [p.text for p in passages_of(list(runbooks()))] + [
        item["description"] for item in yaml.safe_load((PROJECT_ROOT / "knowledge" / "eval" / "rag_eval.yaml").read_text())
    ]
    reference = SentenceTransformer(str(model_path()), device="cpu", local_files_only=True).encode(
        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    embedder = shared_embedder()
    embedder.start_loading().result()
    assert embedder.traced
    batched = np.array(embedder.encode_sync(texts))
    one_by_one = np.array([embedder.encode_sync([text])[0] for text in texts[:10]])
    assert np.min(np.sum(batched * reference, axis=1)) > 0.9999
    assert np.min(np.sum(one_by_one * reference[:10], axis=1)) > 0.9999


def test_outdated_incidents_are_those_without_todays_text_version(tmp_path):
    """An incident upserted now carries the current text version; one indexed before the
    version existed is reported with its kind and resolution."""
    from services.llm_enricher.rag import incident_point_id

    index = fresh_index(tmp_path / "qdrant")
    vector = [1.0] + [0.0] * (DIMENSIONS - 1)
    current, older = make_incident(), make_incident()
    index.run_sync(index.upsert_incident_sync, current, "vsat_modem", None, vector)
    index.run_sync(index.upsert_incident_sync, older, "vsat_modem", "power-cycled the modem", vector)
    index.run_sync(lambda: index.client.delete_payload(index.incidents_collection, keys=["text_version"],
                                                       points=[incident_point_id(older.incident_id)], wait=True))
    [outdated] = index.run_sync(index.outdated_incidents_sync)
    assert (outdated.incident_id, outdated.device_kind, outdated.resolution) == (
        older.incident_id, "vsat_modem", "power-cycled the modem")
