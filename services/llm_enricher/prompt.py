"""The prompt: the incident's facts, the retrieved runbooks and similar resolved incidents, and
the JSON answer it must come back as (validated by `LlmAnswer`; anything else is the fallback).

Personal data never reaches the model: privacy.yaml's redaction rules run over the whole prompt
when `llm_prompt` is in `apply_to`."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aiops_core.models import Incident
from aiops_core.policy import PrivacyPolicy
from services.llm_enricher.rag import Retrieval

MAX_EVIDENCE = 6
MAX_STEPS_PER_RUNBOOK = 6

SYSTEM = """You are the network and IT operations assistant on a cruise ship's edge server.
The ship's IT officer needs to know what broke, what it affects and what to do now.
Use only the facts, runbooks and past incidents given. Be concrete: name devices and commands.
The satellite link to shore may be down: never suggest anything that needs shore support first
unless the runbook says to escalate.
Answer with one JSON object and nothing else, with exactly these keys:
{"root_cause": string, "impact": string, "recommendations": [string, ...],
 "confidence": number between 0 and 1, "runbook_ids": [ids of the runbooks you used]}
recommendations: 2 to 6 short imperative steps, most urgent first.
confidence: how sure you are of the root cause given the evidence (0.3 = a guess, 0.9 = clear)."""


class LlmAnswer(BaseModel):
    """The JSON the model must return. Unknown keys are ignored; missing or mistyped ones fail."""

    model_config = ConfigDict(extra="ignore")

    root_cause: str = Field(min_length=3, max_length=4000)
    impact: str = Field(min_length=3, max_length=4000)
    recommendations: list[str] = Field(min_length=1, max_length=20)
    confidence: float = Field(ge=0, le=1)
    runbook_ids: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("recommendations")
    @classmethod
    def _steps_have_text(cls, steps: list[str]) -> list[str]:
        cleaned = [s.strip()[:2000] for s in steps if isinstance(s, str) and s.strip()]
        if not cleaned:
            raise ValueError("no recommendation has any text")
        return cleaned

    @field_validator("root_cause", "impact")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


def parse_answer(content: str) -> LlmAnswer:
    """Validates the model's JSON text; raises ValueError (pydantic's ValidationError is one)."""
    return LlmAnswer.model_validate_json(content)


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str


def build_prompt(incident: Incident, device_kind: str | None, retrieval: Retrieval,
                 privacy: PrivacyPolicy | None = None) -> Prompt:
    facts = {
        "type": incident.incident_type.value,
        "severity": incident.severity.value,
        "title": incident.title,
        "root_cause_device": incident.root_cause_device,
        "root_cause_device_kind": device_kind or "unknown",
        "correlation_reason": incident.root_cause_reason,
        "affected_devices": incident.affected_devices[:20],
        "services": incident.services[:20],
        "anomaly_count": incident.anomaly_count,
        "detectors": incident.detectors[:10],
        "first_seen": incident.first_seen.isoformat(),
        "last_seen": incident.last_seen.isoformat(),
        "evidence": [_evidence_line(e) for e in incident.evidence[:MAX_EVIDENCE]],
    }
    lines = ["INCIDENT", orjson.dumps(facts, option=orjson.OPT_INDENT_2).decode(), "", "RUNBOOKS"]
    if not retrieval.runbooks:
        lines.append("(none matched)")
    for hit in retrieval.runbooks:
        runbook = hit.runbook
        lines.append(f"- id: {runbook.id} | {runbook.title} | similarity {hit.score:.2f} | remediation risk {runbook.meta.risk}")
        causes = runbook.items("Likely causes")
        if causes:
            lines.append("  likely causes: " + " / ".join(causes[:4]))
        steps = runbook.items("Remediation")[:MAX_STEPS_PER_RUNBOOK]
        for number, step in enumerate(steps, start=1):
            lines.append(f"  step {number}: {step}")
    lines += ["", "SIMILAR RESOLVED INCIDENTS"]
    if not retrieval.similar:
        lines.append("(none)")
    for similar in retrieval.similar:
        lines.append(f"- {similar.title} (similarity {similar.similarity:.2f}); resolution: {similar.resolution or 'not recorded'}")
    user = "\n".join(lines)
    if privacy is not None and "llm_prompt" in privacy.apply_to:
        user = privacy.redact_text(user)
    return Prompt(SYSTEM, user)


def _evidence_line(evidence: dict) -> str:
    what = evidence.get("message") or evidence.get("template") or ""
    metric = evidence.get("metric")
    if metric and evidence.get("value") is not None:
        what = f"{metric}={evidence['value']} {what}".strip()
    device = evidence.get("device_id", "?")
    detector = evidence.get("detector", "?")
    count = evidence.get("count", 1)
    return f"{device} [{detector}] x{count}: {str(what)[:300]}"
