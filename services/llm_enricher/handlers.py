"""llm-enricher logic, free of bus and store: given an incident, what was retrieved for it, the
cache, the LLM port and the clock, produce its Insight; decide which incident changes deserve
a (re-)explanation; shape the EnrichedIncident that goes out."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from aiops_core.bus import msg_id
from aiops_core.models import (
    EnrichedIncident,
    Incident,
    IncidentChange,
    IncidentStatus,
    Insight,
    StageStamp,
)
from aiops_core.policy import Policy, PrivacyPolicy
from services.llm_enricher.cache import CachePort, signature_of
from services.llm_enricher.fallback import fallback_insight
from services.llm_enricher.llm_client import LlmError
from services.llm_enricher.prompt import LlmAnswer, build_prompt, parse_answer
from services.llm_enricher.rag import Retrieval

STAGE = "llm-enricher"
SERVICE = "llm-enricher"

# Time kept back from the insight SLO for publishing and for the incident-api to store it.
PUBLISH_MARGIN_SECONDS = 0.5
# Less time than this left: asking the LLM cannot succeed, the fallback goes out at once.
MIN_LLM_SECONDS = 0.5
# A growing incident with the same severity, type and root device is re-explained at most this often.
REEXPLAIN_EVERY_SECONDS = 120.0

T = TypeVar("T")


class LlmPort(Protocol):
    model: str

    async def complete(self, system: str, user: str, *, parse: Callable[[str], T], timeout: float,
                       priority: int) -> T:
        """The parsed answer within `timeout` seconds, or an LlmError."""


@dataclass(frozen=True)
class Explanation:
    insight: Insight
    signature: str
    # None: the LLM was not asked (no LLM configured, cache hit, or no time left).
    llm_outcome: str | None


def insight_budget_seconds(policy: Policy) -> float:
    """From the incident change to the insight going out: the SLO less the publish margin."""
    return policy.slo.insight_path_p99_ms.target / 1000 - PUBLISH_MARGIN_SECONDS


def deadline_of(incident: Incident, policy: Policy) -> datetime:
    """The insight must be out by then; the SLO is measured from the change (updated_at)."""
    return incident.updated_at + timedelta(seconds=insight_budget_seconds(policy))


def _ms(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds() * 1000)


async def explain(incident: Incident, device_kind: str | None, retrieval: Retrieval, *,
                  cache: CachePort, llm: LlmPort | None, clock: Callable[[], datetime],
                  started: datetime, deadline: datetime, llm_wait_seconds: float,
                  privacy: PrivacyPolicy | None = None) -> Explanation:
    """Cache, then the LLM if there is one and time for it, else the deterministic fallback.

    The LLM gets at most `llm_wait_seconds` (queue time included) and never past `deadline`,
    so the fallback still goes out inside the insight budget."""
    signature = signature_of(incident, device_kind)
    now = clock()
    cached = await cache.get(signature, now)
    if cached is not None:
        return Explanation(cached.model_copy(update={
            "cached": True, "generated_at": now, "latency_ms": _ms(now - started),
            "similar_incidents": retrieval.similar,
        }), signature, None)

    outcome: str | None = None
    if llm is not None:
        remaining = (deadline - now).total_seconds()
        if remaining >= MIN_LLM_SECONDS:
            prompt = build_prompt(incident, device_kind, retrieval, privacy)
            try:
                answer = await llm.complete(
                    prompt.system, prompt.user, parse=parse_answer, timeout=min(remaining, llm_wait_seconds),
                    priority=incident.severity.rank,
                )
            except LlmError as exc:
                outcome = exc.outcome
            else:
                done = clock()
                insight = insight_from_answer(answer, retrieval, model=llm.model, generated_at=done,
                                              latency_ms=_ms(done - started))
                await cache.put(signature, insight, done)
                return Explanation(insight, signature, "ok")
        else:
            outcome = "no_budget"
    done = clock()
    insight = fallback_insight(incident, device_kind, retrieval, generated_at=done, latency_ms=_ms(done - started))
    return Explanation(insight, signature, outcome)


def insight_from_answer(answer: LlmAnswer, retrieval: Retrieval, *, model: str, generated_at: datetime,
                        latency_ms: float) -> Insight:
    # Only runbooks that were actually given to the model: an invented id would be a dead link.
    known = {hit.runbook.id for hit in retrieval.runbooks}
    runbook_ids = list(dict.fromkeys(r for r in answer.runbook_ids if r in known))
    return Insight(
        root_cause=answer.root_cause[:16000],
        impact=answer.impact[:16000],
        recommendations=[r[:16000] for r in answer.recommendations[:20]],
        confidence=answer.confidence,
        source="llm",
        model=model[:256],
        runbook_ids=runbook_ids,
        similar_incidents=retrieval.similar,
        generated_at=generated_at,
        latency_ms=latency_ms,
    )


def enriched(incident: Incident, insight: Insight, *, started: datetime, finished: datetime) -> EnrichedIncident:
    """trace[0] marks the incident change explained (the insight path starts there), then ours."""
    return EnrichedIncident(
        incident_id=incident.incident_id,
        ship_id=incident.ship_id,
        incident_version=incident.version,
        insight=insight,
        trace=[
            StageStamp(stage="incident", service="correlation", at=incident.updated_at, duration_ms=0),
            StageStamp(stage=STAGE, service=SERVICE, at=finished, duration_ms=_ms(finished - started)),
        ],
    )


def enriched_msg_id(incident: Incident) -> str:
    """One insight per incident version: a redelivered change is deduplicated by JetStream."""
    return msg_id(incident.incident_id, incident.version, "enriched")


# --- which changes get explained ----------------------------------------------------------


def latest_per_incident(changes: Sequence[IncidentChange]) -> set[int]:
    """Indexes of the created/updated changes worth explaining in a batch: the newest version
    of each incident (a burst of 50 updates of one incident is one explanation)."""
    newest: dict[str, int] = {}
    for index, change in enumerate(changes):
        if change.change == "status":
            continue
        current = newest.get(change.incident.incident_id)
        if current is None or change.incident.version >= changes[current].incident.version:
            newest[change.incident.incident_id] = index
    return set(newest.values())


@dataclass(frozen=True)
class _Explained:
    key: tuple[str, str, str]
    version: int
    at: datetime


def _key(incident: Incident) -> tuple[str, str, str]:
    return (incident.severity.value, incident.root_cause_device, incident.incident_type.value)


class Coalescer:
    """Remembers what each open incident was last explained as. An update is re-explained when
    its severity, root device or type changed, or at most every `every_seconds` otherwise;
    an already explained (or older) version never is."""

    def __init__(self, every_seconds: float = REEXPLAIN_EVERY_SECONDS, max_incidents: int = 20_000) -> None:
        self.every = timedelta(seconds=every_seconds)
        self.max_incidents = max_incidents
        self._last: OrderedDict[str, _Explained] = OrderedDict()

    def should_explain(self, incident: Incident, now: datetime) -> bool:
        last = self._last.get(incident.incident_id)
        if last is None:
            return True
        if incident.version <= last.version:
            return False
        if _key(incident) != last.key:
            return True
        return now - last.at >= self.every

    def explained(self, incident: Incident, at: datetime) -> None:
        """Called once the insight is published (not before: a failed publish is retried)."""
        self._last[incident.incident_id] = _Explained(_key(incident), incident.version, at)
        self._last.move_to_end(incident.incident_id)
        while len(self._last) > self.max_incidents:
            self._last.popitem(last=False)

    def forget(self, incident_id: str) -> None:
        self._last.pop(incident_id, None)


# --- resolved incidents feed the RAG index --------------------------------------------------

def resolution_of(incident: Incident) -> str | None:
    """What fixed a resolved incident: the operator's resolution (else their comment), which the
    incident-api sets on the incident when it is resolved."""
    text = (incident.resolution or "").strip()
    return text or None


def is_resolution(change: IncidentChange) -> bool:
    return change.change == "status" and change.incident.status == IncidentStatus.RESOLVED
