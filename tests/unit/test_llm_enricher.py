"""The llm-enricher's pure logic: which changes are explained, the signature, the fallback
insight, the prompt, the breaker, the runbook loader and the resolution parsing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from aiops_core.models import IncidentType, Severity, SimilarIncident, utc_now
from services.llm_enricher import handlers
from services.llm_enricher.breaker import BreakerState, CircuitBreaker
from services.llm_enricher.cache import InsightCache, signature_of
from services.llm_enricher.embeddings import Embedder, VectorCache
from services.llm_enricher.fallback import fallback_insight
from services.llm_enricher.knowledge import KnowledgeError, load_runbooks, parse_runbook
from services.llm_enricher.llm_client import LlmTimeout
from services.llm_enricher.prompt import build_prompt, parse_answer
from services.llm_enricher.rag import Retrieval, RunbookHit, incident_text, metadata_retrieval, scrubbed
from tests.insight_support import change, make_incident, policy, runbook, runbooks


# --- coalescing -------------------------------------------------------------------------------


def test_burst_of_updates_is_explained_once_per_batch():
    """Fifty updates of one incident in a batch: only the newest version is explained."""
    base = make_incident()
    other = make_incident()
    changes = [change(base.model_copy(update={"version": v}), "updated") for v in range(1, 51)]
    changes.insert(10, change(other))
    chosen = handlers.latest_per_incident(changes)
    assert {changes[i].incident.version for i in chosen if changes[i].incident.incident_id == base.incident_id} == {50}
    assert len(chosen) == 2


def test_status_changes_are_never_explained():
    """Operator status changes feed the RAG index, not an explanation."""
    incident = make_incident()
    assert handlers.latest_per_incident([change(incident, "status")]) == set()


def test_update_with_same_key_waits_for_the_interval():
    """A growing incident with unchanged severity, type and root device is re-explained only
    after the interval."""
    coalescer = handlers.Coalescer(every_seconds=120)
    now = utc_now()
    incident = make_incident()
    assert coalescer.should_explain(incident, now)
    coalescer.explained(incident, now)
    grown = incident.model_copy(update={"version": 2, "anomaly_count": 40})
    assert not coalescer.should_explain(grown, now + timedelta(seconds=30))
    assert coalescer.should_explain(grown, now + timedelta(seconds=121))


@pytest.mark.parametrize("update", [
    {"severity": Severity.CRITICAL},
    {"root_cause_device": "acu-01"},
    {"incident_type": IncidentType.COMMS_OUTAGE},
])
def test_key_change_is_explained_at_once(update):
    """A change of severity, root device or type is re-explained immediately."""
    coalescer = handlers.Coalescer(every_seconds=120)
    now = utc_now()
    incident = make_incident()
    coalescer.explained(incident, now)
    assert coalescer.should_explain(incident.model_copy(update={"version": 2, **update}), now + timedelta(seconds=1))


def test_redelivered_or_older_version_is_not_explained_again():
    """A redelivery of an explained version (or an older one) produces nothing new."""
    coalescer = handlers.Coalescer(every_seconds=0)
    now = utc_now()
    incident = make_incident(version=3)
    coalescer.explained(incident, now)
    assert not coalescer.should_explain(incident, now + timedelta(hours=1))
    assert not coalescer.should_explain(incident.model_copy(update={"version": 2}), now + timedelta(hours=1))


def test_forgotten_incident_is_explained_again():
    """After a resolve/suppress the incident's memory is dropped (bounded state)."""
    coalescer = handlers.Coalescer()
    incident = make_incident()
    coalescer.explained(incident, utc_now())
    coalescer.forget(incident.incident_id)
    assert coalescer.should_explain(incident, utc_now())


# --- signature --------------------------------------------------------------------------------


def test_signature_ignores_ids_counts_and_times():
    """Two occurrences of the same fault share a signature (a recurrence is a cache hit)."""
    first = make_incident(anomaly_count=3)
    later = make_incident(anomaly_count=90, updated_at=utc_now() + timedelta(days=2))
    assert signature_of(first, "vsat_modem") == signature_of(later, "vsat_modem")


@pytest.mark.parametrize("update", [
    {"severity": Severity.HIGH},
    {"root_cause_device": "vsat-modem-02"},
    {"incident_type": IncidentType.COMMS_OUTAGE},
    {"detectors": ["log_pattern"]},
])
def test_signature_changes_with_what_the_llm_would_see(update):
    """Severity, root device, type and detectors are part of the signature."""
    incident = make_incident()
    assert signature_of(incident, "vsat_modem") != signature_of(incident.model_copy(update=update), "vsat_modem")


def test_signature_includes_the_matched_patterns():
    """Different log rules matched on the same device make different signatures."""
    a = make_incident()
    evidence = [dict(e) for e in a.evidence]
    evidence[1] = {**evidence[1], "detail": {"pattern": "vsat-carrier-lost"}}
    assert signature_of(a, "vsat_modem") != signature_of(a.model_copy(update={"evidence": evidence}), "vsat_modem")


# --- explain without an LLM -------------------------------------------------------------------


def rain_retrieval(similar=()) -> Retrieval:
    return Retrieval([RunbookHit(runbook("rb-vsat-rain-fade"), 0.68), RunbookHit(runbook("rb-backup-link-failover"), 0.51)],
                     list(similar))


async def test_without_llm_the_insight_is_the_fallback():
    """No LLM port: the fallback, built from the runbooks, no network involved."""
    now = utc_now()
    explanation = await handlers.explain(
        make_incident(), "vsat_modem", rain_retrieval(), cache=InsightCache(None, 3600), llm=None, clock=utc_now,
        started=now, deadline=now + timedelta(seconds=4), llm_wait_seconds=3,
    )
    assert explanation.insight.source == "fallback"
    assert explanation.llm_outcome is None
    assert explanation.insight.runbook_ids == ["rb-vsat-rain-fade", "rb-backup-link-failover"]


class CountingLlm:
    model = "phi3:mini"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, system, user, *, parse, timeout, priority):
        self.calls += 1
        raise LlmTimeout("never answers")


async def test_no_budget_left_skips_the_llm():
    """A change whose deadline has (almost) passed goes straight to the fallback."""
    llm = CountingLlm()
    now = utc_now()
    explanation = await handlers.explain(
        make_incident(), "vsat_modem", rain_retrieval(), cache=InsightCache(None, 3600), llm=llm, clock=utc_now,
        started=now, deadline=now + timedelta(seconds=0.1), llm_wait_seconds=3,
    )
    assert llm.calls == 0
    assert explanation.llm_outcome == "no_budget"
    assert explanation.insight.source == "fallback"


async def test_llm_wait_is_bounded_by_the_policy_timeout_and_the_deadline():
    """The LLM port is given min(deadline - now, policy timeout) and the incident's severity as priority."""
    seen = {}

    class Recording(CountingLlm):
        async def complete(self, system, user, *, parse, timeout, priority):
            seen.update(timeout=timeout, priority=priority)
            return parse('{"root_cause": "rain", "impact": "slow", "recommendations": ["wait"], "confidence": 0.5}')

    now = utc_now()
    explanation = await handlers.explain(
        make_incident(severity=Severity.CRITICAL), "vsat_modem", rain_retrieval(), cache=InsightCache(None, 3600),
        llm=Recording(), clock=lambda: now, started=now, deadline=now + timedelta(seconds=4.5), llm_wait_seconds=3,
    )
    assert seen == {"timeout": 3, "priority": Severity.CRITICAL.rank}
    assert explanation.insight.source == "llm"
    assert explanation.insight.runbook_ids == []


async def test_fallback_is_not_cached():
    """Only LLM insights are cached, so a returning LLM is used for the next occurrence."""
    cache = InsightCache(None, 3600)
    now = utc_now()
    await handlers.explain(make_incident(), "vsat_modem", rain_retrieval(), cache=cache, llm=CountingLlm(),
                           clock=utc_now, started=now, deadline=now + timedelta(seconds=4), llm_wait_seconds=3)
    assert cache.size == 0


# --- the fallback insight ---------------------------------------------------------------------


def test_fallback_tells_the_officer_what_to_do():
    """Root cause from the top runbook's likely causes, its remediation steps, what fixed a
    similar incident, and the runbook to open."""
    similar = SimilarIncident(incident_id="a1", title="VSAT degraded in squall", similarity=0.82,
                              resolution="Failed over to Starlink for 40 min until the cell passed")
    insight = fallback_insight(make_incident(), "vsat_modem", rain_retrieval([similar]), generated_at=utc_now(), latency_ms=3)
    assert insight.source == "fallback" and insight.model is None
    assert insight.root_cause.startswith("Most likely VSAT rain fade on vsat-modem-01 (vsat modem): ")
    assert "Rain attenuation" in insight.root_cause
    assert any("failover_path" in r for r in insight.recommendations)
    assert any("Failed over to Starlink" in r for r in insight.recommendations)
    assert "rb-vsat-rain-fade" in insight.recommendations[-1]
    assert "fw-01" in insight.impact and "pos" in insight.impact
    assert insight.confidence == 0.68
    assert insight.similar_incidents == [similar]


def test_fallback_is_deterministic():
    """Same input, same insight text."""
    incident = make_incident()
    at = utc_now()
    a = fallback_insight(incident, "vsat_modem", rain_retrieval(), generated_at=at, latency_ms=1)
    b = fallback_insight(incident, "vsat_modem", rain_retrieval(), generated_at=at, latency_ms=1)
    assert a == b


def test_fallback_without_any_runbook_still_gives_steps():
    """No runbook retrieved: generic but concrete steps naming the device, low confidence."""
    insight = fallback_insight(make_incident(), None, Retrieval([], []), generated_at=utc_now(), latency_ms=1)
    assert insight.confidence == 0.1
    assert insight.runbook_ids == []
    assert any("vsat-modem-01" in r for r in insight.recommendations)


def test_fallback_from_front_matter_match_has_modest_confidence():
    """Runbooks picked by incident type and device kind (embeddings not ready) are used, with low confidence."""
    incident = make_incident()
    hits = metadata_retrieval(runbooks(), "link_degradation", "vsat_modem", 3, incident_text(incident, "vsat_modem"))
    insight = fallback_insight(incident, "vsat_modem", Retrieval(hits, []), generated_at=utc_now(), latency_ms=1)
    assert insight.runbook_ids[0] == "rb-vsat-rain-fade"
    assert insight.confidence == 0.3


def test_metadata_retrieval_prefers_the_device_kind():
    """Front-matter retrieval ranks runbooks for the device's kind first and only of the incident's type."""
    hits = metadata_retrieval(runbooks(), "auth_failure", "server", 3)
    assert hits and hits[0].runbook.id == "rb-ssh-brute-force"
    assert all("auth_failure" in [t.value for t in h.runbook.meta.incident_types] for h in hits)
    assert not any(h.semantic for h in hits)


# --- prompt -----------------------------------------------------------------------------------


def test_prompt_carries_facts_runbooks_and_resolutions():
    """The prompt holds the incident facts, the runbooks' ids and steps and past resolutions."""
    similar = SimilarIncident(incident_id="a1", title="VSAT degraded in squall", similarity=0.82, resolution="failed over")
    prompt = build_prompt(make_incident(), "vsat_modem", rain_retrieval([similar]), policy().privacy)
    assert '"root_cause_device": "vsat-modem-01"' in prompt.user
    assert "id: rb-vsat-rain-fade" in prompt.user
    assert "step 1:" in prompt.user
    assert "resolution: failed over" in prompt.user
    assert "runbook_ids" in prompt.system


def test_prompt_is_redacted():
    """Personal data in evidence never reaches the model (privacy.yaml applies to llm_prompt)."""
    evidence = [{"device_id": "pos-01", "detector": "log_pattern", "message": "charge failed for jane.doe@example.com card 4111 1111 1111 1111"}]
    prompt = build_prompt(make_incident(evidence=evidence), "pos", Retrieval([], []), policy().privacy)
    assert "jane.doe@example.com" not in prompt.user and "4111 1111" not in prompt.user
    assert "[EMAIL]" in prompt.user and "[PAN]" in prompt.user


def test_answer_validation():
    """The answer needs every key with the right type; confidence within 0..1; extra keys ignored."""
    ok = parse_answer('{"root_cause": "rain", "impact": "slow", "recommendations": [" wait ", ""], "confidence": "0.4", "extra": 1}')
    assert ok.recommendations == ["wait"] and ok.confidence == 0.4
    for bad in ('{"root_cause": "rain"}', '{"root_cause": "rain", "impact": "x y", "recommendations": [], "confidence": 0.5}',
                '{"root_cause": "rain", "impact": "x y", "recommendations": ["a"], "confidence": 1.5}', "not json"):
        with pytest.raises(ValueError):
            parse_answer(bad)


# --- breaker ----------------------------------------------------------------------------------


def test_breaker_lets_one_probe_through_when_half_open():
    """Half-open admits exactly one trial call until its outcome is recorded."""
    now = [0.0]
    breaker = CircuitBreaker(2, 10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.allow()
    assert not breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


def test_breaker_success_resets_the_failure_count():
    """Failures must be consecutive to open the circuit."""
    breaker = CircuitBreaker(2, 10, clock=lambda: 0.0)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_cancelled_probe_frees_the_half_open_slot():
    """A trial call that never happened does not leave the breaker stuck."""
    now = [0.0]
    breaker = CircuitBreaker(1, 5, clock=lambda: now[0])
    breaker.record_failure()
    now[0] = 6.0
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


# --- knowledge and resolutions ----------------------------------------------------------------


def test_every_runbook_loads_with_its_sections():
    """The knowledge base loads without problems; each runbook has causes and remediation steps."""
    loaded = runbooks()
    assert len(loaded) >= 15
    for rb in loaded:
        assert rb.items("Likely causes"), rb.id
        assert rb.items("Remediation"), rb.id


def test_passages_fit_the_embedding_window():
    """Each embedded passage is short enough for all-MiniLM-L6-v2's 256 word pieces."""
    for rb in runbooks():
        for passage in rb.passages():
            assert len(passage.text.split()) <= 150, (rb.id, passage.part)
            assert passage.text.startswith(rb.title)


def test_section_items_keep_identifier_underscores():
    """Markup is stripped but names like failover_path and snr_db survive."""
    steps = runbook("rb-vsat-rain-fade").items("Remediation")
    assert "failover_path" in steps[0]


def test_bad_runbook_is_reported_and_the_rest_load(tmp_path: Path):
    """A runbook with bad front-matter is reported with its file; the others still load."""
    (tmp_path / "runbooks").mkdir()
    good = runbook("rb-dns-resolution-failure").path.read_text()
    (tmp_path / "runbooks" / "good.md").write_text(good)
    (tmp_path / "runbooks" / "bad.md").write_text("---\nid: rb-bad\ntitle: Bad\nincident_types: [weather]\nrisk: low\n---\n# Bad\n")
    loaded, problems = load_runbooks(tmp_path)
    assert [r.id for r in loaded] == ["rb-dns-resolution-failure"]
    assert len(problems) == 1 and "bad.md" in problems[0] and "incident_types" in problems[0]
    with pytest.raises(KnowledgeError):
        parse_runbook(tmp_path / "runbooks" / "bad.md")


def test_resolution_is_what_the_operator_wrote():
    """The incident's resolution is what goes into the RAG index; blank means none."""
    assert handlers.resolution_of(make_incident().model_copy(update={"resolution": " replaced PSU B "})) == "replaced PSU B"
    assert handlers.resolution_of(make_incident().model_copy(update={"resolution": "  "})) is None
    assert handlers.resolution_of(make_incident()) is None


# --- what gets embedded -----------------------------------------------------------------------


def test_incident_text_is_type_on_kind_then_patterns_and_evidence():
    """The embedded text is type on device kind, the log patterns matched, then the evidence
    messages; correlation's title and reason (device names, topology) are not in it."""
    incident = make_incident()
    text = incident_text(incident, "vsat_modem")
    assert text == ("link degradation on vsat modem: vsat rain fade; snr_db 4.2 dB below 7 dB for 60 s; "
                    "RX SNR low: rain fade suspected, Es/No degraded")
    assert incident.title not in text and "fw-01" not in text


def test_incident_text_names_the_device_when_its_kind_is_unknown():
    """Without a known kind, the root device's name is what says where the fault is."""
    assert incident_text(make_incident(), None).startswith("link degradation on vsat-modem-01: ")
    assert incident_text(make_incident(), "unknown").startswith("link degradation on vsat-modem-01: ")


def test_same_fault_elsewhere_reads_the_same():
    """The same fault on another device of the kind, with other addresses and counts, is the
    same text: one embedding, and the nearest neighbour of its past occurrences."""
    def dhcp_incident(device: str, mac: str, gateway: str, count: int):
        return make_incident(
            incident_type=IncidentType.NETWORK_ISSUE, device=device, title=f"Network issue on {device}", anomaly_count=count,
            evidence=[{"device_id": device, "detector": "log_pattern", "count": count,
                       "message": f"DHCPDISCOVER from {mac} via {gateway}: network 10.20.0.0/20: no free leases",
                       "template": "DHCPDISCOVER from <MAC> via <IP>: network <IP>: no free leases",
                       "detail": {"pattern": "dhcp-pool-exhausted"}}],
        )

    first = incident_text(dhcp_incident("dhcp-01", "3c:22:fb:b2:08:2b", "10.20.0.1", 3), "dhcp_server")
    again = incident_text(dhcp_incident("dhcp-02", "f0:18:98:99:38:f5", "10.30.0.1", 40), "dhcp_server")
    assert first == again == "network issue on dhcp server: dhcp pool exhausted; DHCPDISCOVER from via network no free leases"


def test_incident_text_takes_distinct_templates_root_device_first():
    """Evidence lines are one per template, the root device's own before its dependants' symptoms,
    at most three."""
    def line(device: str, message: str, template: str) -> dict:
        return {"device_id": device, "detector": "log_pattern", "message": message, "template": template, "detail": {}}

    incident = make_incident(device="acu-01", evidence=[
        line("pos-gw-01", "payment gateway timeout after 30000 ms", "payment gateway timeout after <NUM> ms"),
        line("acu-01", "antenna entering blockage zone 2", "antenna entering blockage zone <NUM>"),
        line("acu-01", "antenna entering blockage zone 3", "antenna entering blockage zone <NUM>"),
        line("acu-01", "tracking lost: AGC=310", "tracking lost: AGC=<NUM>"),
        line("vsat-modem-01", "RX lock lost", "RX lock lost"),
    ])
    text = incident_text(incident, "antenna_controller")
    assert text == ("link degradation on antenna controller: antenna entering blockage zone 2; tracking lost: AGC=310; "
                    "payment gateway timeout after ms")


def test_incident_opened_by_hand_reads_as_its_title_and_description():
    """No evidence: the operator's title and description are all there is to embed."""
    incident = make_incident(title="Crew Wi-Fi down on deck 4", evidence=[]).model_copy(
        update={"root_cause_reason": "APs on deck 4 lost their controller after the switch reboot"})
    assert incident_text(incident, "access_point") == (
        "link degradation on access point: Crew Wi-Fi down on deck 4; APs on deck 4 lost their controller after the switch reboot")


@pytest.mark.parametrize(("message", "expected"), [
    ("client @0x7f3aba56fccd 10.20.9.248#55471 (api.whatsapp.net): query failed (SERVFAIL)",
     "client (api.whatsapp.net): query failed (SERVFAIL)"),
    ("Session table is full, new session dropped: 10.20.15.36 -> 31.13.167.147:443", "Session table is full, new session dropped"),
    ("%LINK-3-UPDOWN: Interface GigabitEthernet1/0/17, changed state to down",
     "%LINK-3-UPDOWN: Interface GigabitEthernet1/0/17, changed state to down"),
])
def test_scrubbed_drops_addresses_and_ids_but_keeps_names(message, expected):
    """Addresses, memory addresses and long ids go; interface names and short numbers stay."""
    assert scrubbed(message) == expected


def test_vector_cache_keeps_the_most_recently_used():
    """The vector cache evicts the least recently used text once full; a read counts as a use."""
    cache = VectorCache(max_entries=2)
    cache.put("a", [1.0])
    cache.put("b", [2.0])
    assert cache.get("a") == [1.0]
    cache.put("c", [3.0])
    assert cache.get("b") is None
    assert cache.get("a") == [1.0] and cache.get("c") == [3.0]
    assert len(cache) == 2


class CountingEmbedder(Embedder):
    """The embedder with its model replaced by a counter of the texts it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[list[str]] = []

    def _load(self) -> None:
        self._model = object()

    def encode_sync(self, texts):
        self.encoded.append(list(texts))
        return [[float(len(t))] for t in texts]


async def test_embedder_encodes_only_texts_it_has_not_seen_lately():
    """Texts embedded lately come from the vector cache; a text repeated in one call is encoded once."""
    embedder = CountingEmbedder()
    assert await embedder.encode(["ab", "abc", "ab"]) == [[2.0], [3.0], [2.0]]
    assert await embedder.encode(["abc", "abcd"]) == [[3.0], [4.0]]
    assert await embedder.encode(["abcd"]) == [[4.0]]
    assert embedder.encoded == [["ab", "abc"], ["abcd"]]


class CountingStore:
    """A store that answers every query with no rows, and counts them."""

    def __init__(self) -> None:
        self.queries = 0

    async def query(self, sql, parameters=None):
        self.queries += 1
        return []


async def test_cache_without_read_through_never_waits_on_the_store():
    """A node with no LLM warms the cache from the store but then looks only in memory."""
    store = CountingStore()
    cache = InsightCache(store, 3600, read_through=False)  # type: ignore[arg-type]
    await cache.warm(utc_now())
    assert store.queries == 1
    assert await cache.get("f" * 32, utc_now()) is None
    assert store.queries == 1
    assert await InsightCache(store, 3600).get("f" * 32, utc_now()) is None  # type: ignore[arg-type]
    assert store.queries == 2


def test_enriched_incident_trace_and_msg_id():
    """trace[0] marks the incident change (at its updated_at), then the llm-enricher stamp; the
    msg id is derived from incident id and version."""
    incident = make_incident(version=7)
    insight = fallback_insight(incident, None, Retrieval([], []), generated_at=utc_now(), latency_ms=1)
    started = utc_now()
    out = handlers.enriched(incident, insight, started=started, finished=started + timedelta(milliseconds=12))
    assert out.trace[0].stage == "incident" and out.trace[0].at == incident.updated_at
    assert out.trace[1].stage == "llm-enricher" and out.trace[1].duration_ms == pytest.approx(12)
    assert out.incident_version == 7
    assert handlers.enriched_msg_id(incident) == f"{incident.incident_id}:7:enriched"
    assert handlers.enriched_msg_id(incident) == handlers.enriched_msg_id(incident.model_copy())


def test_deadline_follows_the_insight_slo():
    """The insight must go out within the SLO (5 s) less the publish margin, from the change."""
    incident = make_incident()
    assert handlers.deadline_of(incident, policy()) == incident.updated_at + timedelta(seconds=4.5)
