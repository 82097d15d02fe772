"""LLM clients: Ollama's `/api/chat` and an OpenAI-compatible `/v1/chat/completions` (llama.cpp
server, vLLM), both asked for a JSON object, and `GuardedLlm`, which puts the circuit breaker,
the total timeout and the metrics around whichever is configured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import ValidationError

from aiops_core import metrics
from aiops_core.logging import StructuredLogger
from aiops_core.policy import LlmPolicy
from aiops_core.settings import Settings
from services.llm_enricher.breaker import CircuitBreaker

log = StructuredLogger.get_logger(__name__, service="llm-enricher")

T = TypeVar("T")

# Connection refused is immediate; a host that does not answer at all must not eat the budget.
CONNECT_TIMEOUT_SECONDS = 1.0


class LlmError(Exception):
    """The LLM gave no usable answer; `outcome` labels aiops_llm_requests_total."""

    outcome = "error"


class LlmTimeout(LlmError):
    outcome = "timeout"


class LlmInvalid(LlmError):
    outcome = "invalid"


class LlmCircuitOpen(LlmError):
    outcome = "circuit_open"


class LlmOverloaded(LlmError):
    """Every worker is busy and the queue is full: the fallback is used rather than waiting."""

    outcome = "overloaded"


class ChatClient(Protocol):
    model: str

    async def chat(self, system: str, user: str, *, timeout: float) -> str:
        """The assistant message's content (a JSON text if the server honoured JSON mode)."""

    async def models(self) -> list[str]:
        """Model names the server has."""

    async def aclose(self) -> None: ...


def _base(url: str) -> str:
    return url.rstrip("/")


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT_SECONDS))


async def _post_json(http: httpx.AsyncClient, url: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    try:
        # httpx timeouts are per read; the overall bound is what the insight budget needs.
        async with asyncio.timeout(timeout):
            response = await http.post(url, json=body, timeout=_timeout(timeout))
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise LlmTimeout(f"no answer within {timeout:.2f}s") from exc
    except httpx.HTTPError as exc:
        raise LlmError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise LlmError(f"HTTP {response.status_code}: {response.text[:300]}")
    try:
        data = response.json()
    except ValueError as exc:
        raise LlmInvalid(f"response is not JSON: {response.text[:200]}") from exc
    if not isinstance(data, dict):
        raise LlmInvalid("response is not a JSON object")
    return data


class OllamaClient:
    """Ollama's chat API with `format: "json"` and no streaming."""

    def __init__(self, base_url: str, model: str, *, temperature: float, max_tokens: int,
                 http: httpx.AsyncClient | None = None) -> None:
        self.base_url = _base(base_url)
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._http = http or httpx.AsyncClient()

    async def chat(self, system: str, user: str, *, timeout: float) -> str:
        data = await _post_json(self._http, f"{self.base_url}/api/chat", {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "format": "json",
            "stream": False,
            "options": {"temperature": self.temperature, "num_predict": self.max_tokens},
        }, timeout)
        if data.get("error"):
            raise LlmError(f"ollama: {str(data['error'])[:300]}")
        message = data.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise LlmInvalid("ollama response has no message.content")
        return content

    async def models(self) -> list[str]:
        response = await self._http.get(f"{self.base_url}/api/tags", timeout=_timeout(5.0))
        response.raise_for_status()
        return [str(m.get("name") or m.get("model")) for m in response.json().get("models", [])]

    async def aclose(self) -> None:
        await self._http.aclose()


class OpenAiClient:
    """An OpenAI-compatible chat completions server asked for a JSON object."""

    def __init__(self, base_url: str, model: str, *, temperature: float, max_tokens: int,
                 http: httpx.AsyncClient | None = None, api_key: str | None = None) -> None:
        base = _base(base_url)
        # Accept both http://host:8080 and http://host:8080/v1.
        self.base_url = base[: -len("/v1")] if base.endswith("/v1") else base
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        headers = {"authorization": f"Bearer {api_key}"} if api_key else None
        self._http = http or httpx.AsyncClient(headers=headers)

    async def chat(self, system: str, user: str, *, timeout: float) -> str:
        data = await _post_json(self._http, f"{self.base_url}/v1/chat/completions", {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "response_format": {"type": "json_object"},
            "stream": False,
        }, timeout)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LlmInvalid("response has no choices[0].message.content") from exc
        if not isinstance(content, str):
            raise LlmInvalid("choices[0].message.content is not text")
        return content

    async def models(self) -> list[str]:
        response = await self._http.get(f"{self.base_url}/v1/models", timeout=_timeout(5.0))
        response.raise_for_status()
        return [str(m.get("id")) for m in response.json().get("data", [])]

    async def aclose(self) -> None:
        await self._http.aclose()


def llm_api(settings: Settings, policy: LlmPolicy) -> str:
    """Which API shape to speak: LLM_API when set in the environment, else the policy's provider."""
    return settings.llm_api if "llm_api" in settings.model_fields_set else policy.provider


def make_client(settings: Settings, policy: LlmPolicy) -> ChatClient | None:
    """The configured client, or None when there is no LLM (no URL, or disabled by policy):
    then insights go straight to the fallback without any network attempt."""
    if not settings.ollama_url or not policy.enabled:
        return None
    api = llm_api(settings, policy)
    if api not in ("ollama", "openai"):
        raise ValueError(f"llm_api must be ollama or openai, got {api!r}")
    if api == "openai":
        return OpenAiClient(settings.ollama_url, policy.model, temperature=policy.temperature,
                            max_tokens=policy.max_tokens, api_key=settings.llm_api_key)
    return OllamaClient(settings.ollama_url, policy.model, temperature=policy.temperature, max_tokens=policy.max_tokens)


class GuardedLlm:
    """One LLM call with the breaker, a total timeout, answer validation and the metrics."""

    def __init__(self, client: ChatClient, breaker: CircuitBreaker, *, timeout_seconds: float) -> None:
        self.client = client
        self.breaker = breaker
        self.timeout_seconds = timeout_seconds

    @property
    def model(self) -> str:
        return self.client.model

    async def complete(self, system: str, user: str, *, parse: Callable[[str], T], timeout: float | None = None) -> T:
        """The parsed answer; raises an LlmError (counted by outcome) when there is none.

        Timeouts, errors and invalid answers count as breaker failures: a model that answers
        garbage every time is as useless as one that is down, and waiting on it costs the budget."""
        if not self.breaker.allow():
            metrics.LLM_REQUESTS.labels(LlmCircuitOpen.outcome).inc()
            raise LlmCircuitOpen("circuit open: the LLM failed repeatedly")
        budget = min(self.timeout_seconds, timeout) if timeout is not None else self.timeout_seconds
        started = time.perf_counter()
        try:
            content = await self.client.chat(system, user, timeout=budget)
            try:
                answer = parse(content)
            except (ValidationError, ValueError) as exc:
                raise LlmInvalid(f"answer does not match the schema: {str(exc)[:300]}") from exc
        except LlmError as exc:
            self.breaker.record_failure()
            metrics.LLM_REQUESTS.labels(exc.outcome).inc()
            metrics.LLM_UP.set(0 if not isinstance(exc, LlmInvalid) else 1)
            log.warning("llm_failed", outcome=exc.outcome, error=str(exc)[:300], breaker=self.breaker.state.value)
            raise
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        finally:
            metrics.LLM_LATENCY.observe(time.perf_counter() - started)
        self.breaker.record_success()
        metrics.LLM_REQUESTS.labels("ok").inc()
        metrics.LLM_UP.set(1)
        return answer
