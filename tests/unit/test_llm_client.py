"""The LLM clients and their protection (timeout, validation, circuit breaker) against a real
HTTP server on loopback that speaks Ollama's and the OpenAI-compatible API."""

from __future__ import annotations

import pytest

from aiops_core import metrics
from aiops_core.nats_server import free_port
from aiops_core.settings import Settings
from services.llm_enricher.breaker import BreakerState, CircuitBreaker
from services.llm_enricher.cache import InsightCache
from services.llm_enricher.handlers import explain
from services.llm_enricher.llm_client import (
    GuardedLlm,
    LlmCircuitOpen,
    LlmError,
    LlmInvalid,
    LlmTimeout,
    OllamaClient,
    OpenAiClient,
    make_client,
)
from services.llm_enricher.prompt import LlmAnswer, parse_answer
from services.llm_enricher.rag import Retrieval, RunbookHit
from services.llm_enricher.scheduler import LlmScheduler
from tests.insight_support import make_incident, policy, runbook
from tests.llm_double import LlmDouble, llm_double  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio

CLIENTS = {"ollama": OllamaClient, "openai": OpenAiClient}


def client_for(api: str, url: str):
    return CLIENTS[api](url, "phi3:mini", temperature=0.1, max_tokens=256)


def requests_with(outcome: str) -> float:
    return metrics.LLM_REQUESTS.labels(outcome)._value.get()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_success_returns_the_validated_answer(llm_double, api):
    """A well-formed JSON answer comes back parsed, and the request asks for JSON from the configured model."""
    guarded = GuardedLlm(client_for(api, llm_double.url), CircuitBreaker(3, 60), timeout_seconds=3.0)
    before = requests_with("ok")
    answer = await guarded.complete("system", "user", parse=parse_answer)
    assert isinstance(answer, LlmAnswer)
    assert answer.root_cause.startswith("Rain attenuation")
    assert answer.confidence == 0.8
    assert requests_with("ok") == before + 1
    sent = llm_double.chat_requests[-1]
    assert sent["model"] == "phi3:mini"
    assert sent["stream"] is False
    if api == "ollama":
        assert sent["format"] == "json"
        assert sent["options"]["num_predict"] == 256
    else:
        assert sent["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]


async def test_openai_base_url_with_v1_suffix_is_accepted(llm_double):
    """An OpenAI-compatible URL given as http://host:port/v1 reaches /v1/chat/completions, not /v1/v1/..."""
    client = OpenAiClient(f"{llm_double.url}/v1", "phi3:mini", temperature=0.1, max_tokens=64)
    content = await client.chat("s", "u", timeout=3.0)
    assert parse_answer(content).impact.startswith("Internet")
    assert await client.models() == ["phi3:mini"]


async def test_ollama_models_lists_the_pulled_models(llm_double):
    """The start-up probe reads /api/tags."""
    assert await client_for("ollama", llm_double.url).models() == ["phi3:mini"]


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_slow_server_times_out(llm_double, api):
    """A server slower than the timeout raises LlmTimeout instead of holding the insight."""
    llm_double.mode = "slow"
    guarded = GuardedLlm(client_for(api, llm_double.url), CircuitBreaker(3, 60), timeout_seconds=0.3)
    with pytest.raises(LlmTimeout):
        await guarded.complete("s", "u", parse=parse_answer)


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_malformed_json_is_invalid(llm_double, api):
    """Content that is not the requested JSON object raises LlmInvalid (never a half-parsed insight)."""
    llm_double.mode = "malformed"
    guarded = GuardedLlm(client_for(api, llm_double.url), CircuitBreaker(3, 60), timeout_seconds=3.0)
    with pytest.raises(LlmInvalid):
        await guarded.complete("s", "u", parse=parse_answer)


async def test_json_with_the_wrong_schema_is_invalid(llm_double):
    """Valid JSON missing required keys fails validation."""
    llm_double.content = '{"answer": "it is the rain", "confidence": 2}'
    guarded = GuardedLlm(client_for("ollama", llm_double.url), CircuitBreaker(3, 60), timeout_seconds=3.0)
    with pytest.raises(LlmInvalid):
        await guarded.complete("s", "u", parse=parse_answer)


async def test_server_error_is_an_llm_error(llm_double):
    """An HTTP 500 from the model server is a failure, not an answer."""
    llm_double.mode = "error"
    with pytest.raises(LlmError) as raised:
        await client_for("ollama", llm_double.url).chat("s", "u", timeout=3.0)
    assert "HTTP 500" in str(raised.value)


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_down_server_opens_the_breaker_and_stops_calling(api):
    """Connection refused counts as a failure; after the threshold the breaker opens and calls
    fail fast with circuit_open."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    breaker = CircuitBreaker(3, 60)
    guarded = GuardedLlm(client_for(api, url), breaker, timeout_seconds=1.0)
    for _ in range(3):
        with pytest.raises(LlmError) as raised:
            await guarded.complete("s", "u", parse=parse_answer)
        assert not isinstance(raised.value, LlmCircuitOpen)
    assert breaker.state is BreakerState.OPEN
    before = requests_with("circuit_open")
    with pytest.raises(LlmCircuitOpen):
        await guarded.complete("s", "u", parse=parse_answer)
    assert requests_with("circuit_open") == before + 1


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_open_breaker_makes_no_requests(llm_double, api):
    """Once open, the model server receives nothing more."""
    llm_double.mode = "error"
    guarded = GuardedLlm(client_for(api, llm_double.url), CircuitBreaker(3, 60), timeout_seconds=1.0)
    for _ in range(6):
        with pytest.raises(LlmError):
            await guarded.complete("s", "u", parse=parse_answer)
    assert llm_double.chat_count == 3


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_half_open_probe_recovers_when_the_server_is_back(api):
    """After reset_seconds one trial call goes through; when it succeeds the breaker closes."""
    clock = FakeClock()
    breaker = CircuitBreaker(2, 60, clock=clock)
    port = free_port()
    guarded = GuardedLlm(client_for(api, f"http://127.0.0.1:{port}"), breaker, timeout_seconds=1.0)
    for _ in range(2):
        with pytest.raises(LlmError):
            await guarded.complete("s", "u", parse=parse_answer)
    assert breaker.state is BreakerState.OPEN
    double = LlmDouble(port=port).start()
    try:
        with pytest.raises(LlmCircuitOpen):
            await guarded.complete("s", "u", parse=parse_answer)
        assert double.chat_count == 0
        clock.now += 61
        assert breaker.state is BreakerState.HALF_OPEN
        answer = await guarded.complete("s", "u", parse=parse_answer)
        assert answer.confidence == 0.8
        assert breaker.state is BreakerState.CLOSED
        await guarded.complete("s", "u", parse=parse_answer)
        assert double.chat_count == 2
    finally:
        double.stop()


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_failed_half_open_probe_reopens(llm_double, api):
    """A failing trial call re-opens the breaker for another full period."""
    clock = FakeClock()
    breaker = CircuitBreaker(1, 30, clock=clock)
    llm_double.mode = "error"
    guarded = GuardedLlm(client_for(api, llm_double.url), breaker, timeout_seconds=1.0)
    with pytest.raises(LlmError):
        await guarded.complete("s", "u", parse=parse_answer)
    clock.now += 31
    with pytest.raises(LlmError):
        await guarded.complete("s", "u", parse=parse_answer)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(LlmCircuitOpen):
        await guarded.complete("s", "u", parse=parse_answer)
    assert llm_double.chat_count == 2


def retrieval() -> Retrieval:
    return Retrieval([RunbookHit(runbook("rb-vsat-rain-fade"), 0.71)], [])


async def explain_with(scheduler, incident, *, cache=None):
    from datetime import timedelta

    from aiops_core.models import utc_now

    now = utc_now()
    return await explain(
        incident, "vsat_modem", retrieval(), cache=cache or InsightCache(None, 3600), llm=scheduler,
        clock=utc_now, started=now, deadline=now + timedelta(seconds=4.5), llm_wait_seconds=3.0,
        privacy=policy().privacy,
    )


async def scheduler_for(url: str, *, timeout: float = 3.0, api: str = "ollama") -> LlmScheduler:
    import asyncio

    scheduler = LlmScheduler(GuardedLlm(client_for(api, url), CircuitBreaker(3, 60), timeout_seconds=timeout),
                             workers=1, queue_limit=4)
    scheduler.start(lambda coro, name: asyncio.create_task(coro, name=name))
    return scheduler


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_explain_uses_the_llm_answer(llm_double, api):
    """With a healthy server the insight is the LLM's, marked source llm with the model, and
    only runbook ids that were given to the model survive."""
    scheduler = await scheduler_for(llm_double.url, api=api)
    try:
        explanation = await explain_with(scheduler, make_incident())
    finally:
        await scheduler.stop()
    insight = explanation.insight
    assert insight.source == "llm"
    assert insight.model == "phi3:mini"
    assert insight.runbook_ids == ["rb-vsat-rain-fade"]
    assert explanation.llm_outcome == "ok"
    assert "vsat-modem-01" in llm_double.chat_requests[-1]["messages"][1]["content"]


async def test_slow_llm_falls_back(llm_double):
    """A timeout yields the deterministic fallback insight, marked as such."""
    llm_double.mode = "slow"
    scheduler = await scheduler_for(llm_double.url, timeout=0.4)
    try:
        explanation = await explain_with(scheduler, make_incident())
    finally:
        await scheduler.stop()
    assert explanation.insight.source == "fallback"
    assert explanation.llm_outcome == "timeout"
    assert explanation.insight.runbook_ids == ["rb-vsat-rain-fade"]


async def test_malformed_llm_answer_falls_back(llm_double):
    """Malformed JSON yields the fallback insight."""
    llm_double.mode = "malformed"
    scheduler = await scheduler_for(llm_double.url)
    try:
        explanation = await explain_with(scheduler, make_incident())
    finally:
        await scheduler.stop()
    assert explanation.insight.source == "fallback"
    assert explanation.llm_outcome == "invalid"


async def test_second_identical_incident_is_a_cache_hit(llm_double):
    """Two incidents with the same signature make one LLM call; the second insight is the cached one."""
    scheduler = await scheduler_for(llm_double.url)
    cache = InsightCache(None, 3600)
    hits_before = metrics.LLM_CACHE_HITS._value.get()
    try:
        first = await explain_with(scheduler, make_incident(), cache=cache)
        second = await explain_with(scheduler, make_incident(), cache=cache)
    finally:
        await scheduler.stop()
    assert llm_double.chat_count == 1
    assert first.insight.source == "llm" and not first.insight.cached
    assert second.insight.cached
    assert second.insight.root_cause == first.insight.root_cause
    assert second.signature == first.signature
    # The role counts hits after publishing; here only the explanation is under test.
    assert metrics.LLM_CACHE_HITS._value.get() == hits_before


async def test_no_llm_configured_means_no_client():
    """Without OLLAMA_URL (or with the LLM disabled by policy) there is no client at all."""
    llm_policy = policy().llm
    assert make_client(Settings(ollama_url=None), llm_policy) is None
    assert make_client(Settings(ollama_url="http://127.0.0.1:1"), llm_policy.model_copy(update={"enabled": False})) is None


async def test_llm_api_setting_selects_the_openai_client():
    """LLM_API=openai speaks the OpenAI-compatible API; the policy's provider is the default."""
    llm_policy = policy().llm
    assert isinstance(make_client(Settings(ollama_url="http://x:1", llm_api="openai"), llm_policy), OpenAiClient)
    assert isinstance(make_client(Settings(ollama_url="http://x:1"), llm_policy), OllamaClient)
    openai_policy = llm_policy.model_copy(update={"provider": "openai"})
    assert isinstance(make_client(Settings(ollama_url="http://x:1"), openai_policy), OpenAiClient)


async def test_openai_client_sends_the_api_key_when_set(llm_double):
    """A server started with an API key (vLLM --api-key) gets it as a bearer token; none is sent otherwise."""
    keyed = OpenAiClient(llm_double.url, "phi3:mini", temperature=0.1, max_tokens=64, api_key="sk-ship")
    await keyed.chat("s", "u", timeout=3.0)
    plain = OpenAiClient(llm_double.url, "phi3:mini", temperature=0.1, max_tokens=64)
    await plain.chat("s", "u", timeout=3.0)
    assert llm_double.authorizations[-2:] == ["Bearer sk-ship", None]
    await keyed.aclose()
    await plain.aclose()
