"""Every role by name, in pipeline order, with the module and class that implement it.

Kept apart from services/node.py so the CLI can list the roles without importing any of them."""

from __future__ import annotations

ROLE_CLASSES: dict[str, tuple[str, str]] = {
    "ingest": ("services.ingest.app", "IngestRole"),
    "anomaly-detection": ("services.anomaly_detection.app", "AnomalyDetectionRole"),
    "enrichment": ("services.enrichment.app", "EnrichmentRole"),
    "correlation": ("services.correlation.app", "CorrelationRole"),
    "llm-enricher": ("services.llm_enricher.app", "LlmEnricherRole"),
    "incident-api": ("services.incident_api.app", "IncidentApiRole"),
}
ALL_ROLES = list(ROLE_CLASSES)
