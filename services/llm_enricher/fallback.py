"""The deterministic insight, built from the retrieved runbooks and the resolutions of similar
incidents when the LLM is absent, slow, open-circuited or answers nonsense. Same input, same
insight: an IT officer can act on it (likely cause, numbered remediation steps, what fixed it
last time, which runbook to open)."""

from __future__ import annotations

from datetime import datetime

from aiops_core.models import Incident, Insight
from services.llm_enricher.rag import Retrieval

MAX_STEPS = 5
MAX_RECOMMENDATIONS = 8
# The fallback never claims more certainty than its best retrieval match supports.
MAX_CONFIDENCE = 0.75
METADATA_CONFIDENCE = 0.3
NO_RUNBOOK_CONFIDENCE = 0.1


def _words(value: str) -> str:
    return value.replace("_", " ")


def _device(incident: Incident, device_kind: str | None) -> str:
    if device_kind and device_kind != "unknown":
        return f"{incident.root_cause_device} ({_words(device_kind)})"
    return incident.root_cause_device


def fallback_insight(incident: Incident, device_kind: str | None, retrieval: Retrieval, *,
                     generated_at: datetime, latency_ms: float) -> Insight:
    device = _device(incident, device_kind)
    hits = retrieval.runbooks
    resolved = [s for s in retrieval.similar if s.resolution]
    recommendations: list[str] = []

    sentences: list[str] = []
    if hits:
        top = hits[0].runbook
        causes = [c.rstrip(". ") for c in top.items("Likely causes")]
        sentences.append(f"Most likely {top.title} on {device}" + (f": {causes[0]}" if causes else ""))
        if len(causes) > 1:
            sentences.append(f"Other possible causes: {'; '.join(causes[1:3])}")
        recommendations.extend(top.items("Remediation")[:MAX_STEPS])
    else:
        sentences.append(f"{_words(incident.incident_type.value).capitalize()} on {device}: {incident.title}")
        recommendations.extend([
            f"Check the state, recent logs and metrics of {incident.root_cause_device} in the Operations Console.",
            "Check the devices it depends on and the affected devices listed in the incident for the same time window.",
            "If the impact persists or grows, escalate to the shore NOC with this incident's id and evidence.",
        ])
    if incident.root_cause_reason:
        sentences.append(f"Correlation: {incident.root_cause_reason}")
    if resolved:
        sentences.append(f"A similar past incident, '{resolved[0].title}', was resolved before (see recommendations)")
    root_cause = " ".join(s if s.endswith((".", "!", "?")) else s + "." for s in sentences)
    for similar in resolved[:2]:
        recommendations.append(
            f"Last time ({similar.title}, similarity {similar.similarity:.2f}) it was resolved by: {similar.resolution}"
        )
    if hits:
        also = "; also see " + ", ".join(f"{h.runbook.id} ({h.runbook.title})" for h in hits[1:]) if len(hits) > 1 else ""
        recommendations.append(f"Full procedure, diagnosis and escalation: runbook {hits[0].runbook.id} ({hits[0].runbook.title}){also}.")

    if hits and hits[0].semantic:
        confidence = min(MAX_CONFIDENCE, hits[0].score)
    elif hits:
        confidence = METADATA_CONFIDENCE
    else:
        confidence = NO_RUNBOOK_CONFIDENCE

    return Insight(
        root_cause=root_cause[:16000],
        impact=impact_of(incident, device),
        recommendations=[r[:16000] for r in recommendations[:MAX_RECOMMENDATIONS]],
        confidence=round(confidence, 2),
        source="fallback",
        model=None,
        runbook_ids=[h.runbook.id for h in hits],
        similar_incidents=retrieval.similar,
        generated_at=generated_at,
        latency_ms=latency_ms,
    )


def impact_of(incident: Incident, device: str) -> str:
    others = [d for d in incident.affected_devices if d != incident.root_cause_device]
    parts = [f"{incident.severity.value.capitalize()} {_words(incident.incident_type.value)} centred on {device}"]
    if others:
        shown = ", ".join(others[:8]) + (f" and {len(others) - 8} more" if len(others) > 8 else "")
        parts.append(f"also affecting {len(others)} device(s): {shown}")
    if incident.services:
        parts.append(f"services at risk: {', '.join(incident.services[:10])}")
    parts.append(
        f"{incident.anomaly_count} anomal{'y' if incident.anomaly_count == 1 else 'ies'} "
        f"from {incident.first_seen:%Y-%m-%d %H:%M} to {incident.last_seen:%H:%M} UTC"
    )
    return "; ".join(parts) + "."
