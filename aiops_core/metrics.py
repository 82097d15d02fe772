"""Prometheus metrics shared by every role. In one process all roles share one registry, so each
series carries the role (or stage) as a label; the embedded node adds its workers' series."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

REGISTRY = CollectorRegistry(auto_describe=True)

# Fine buckets below 100 ms: the fast path SLO lives there.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
    0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
INSIGHT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 20.0, 60.0)

MESSAGES = Counter(
    "aiops_messages_total", "Bus inputs handled, by role and outcome (each line of a multi-line logs.raw message counts).",
    ["role", "outcome"], registry=REGISTRY,
)
DLQ = Counter(
    "aiops_dlq_total", "Messages sent to a dead-letter subject, by role and reason.",
    ["role", "reason"], registry=REGISTRY,
)
STAGE_LATENCY = Histogram(
    "aiops_stage_latency_seconds", "Time a stage spent on one message.",
    ["stage"], buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
FAST_PATH_LATENCY = Histogram(
    "aiops_fast_path_latency_seconds", "Ingestion timestamp to incident stored.",
    buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
INSIGHT_PATH_LATENCY = Histogram(
    "aiops_insight_path_latency_seconds", "Incident change published to insight stored.",
    buckets=INSIGHT_BUCKETS, registry=REGISTRY,
)
LLM_REQUESTS = Counter(
    "aiops_llm_requests_total", "LLM requests by outcome (ok, timeout, error, invalid, circuit_open, overloaded).",
    ["outcome"], registry=REGISTRY,
)
GC_PAUSE = Histogram(
    "aiops_gc_pause_seconds", "Pauses of the cyclic garbage collector, by generation (2: a full collection).",
    ["generation"], buckets=LATENCY_BUCKETS, registry=REGISTRY,
)
LLM_LATENCY = Histogram(
    "aiops_llm_latency_seconds", "LLM request latency.", buckets=INSIGHT_BUCKETS, registry=REGISTRY,
)
LLM_CACHE_HITS = Counter("aiops_llm_cache_hits_total", "Insights served from the cache.", registry=REGISTRY)
INSIGHTS = Counter(
    "aiops_insights_total", "Insights produced, by source (llm, fallback).", ["source"], registry=REGISTRY,
)
INGESTED = Counter(
    "aiops_ingested_lines_total", "Lines received by ingestion, by source and outcome.",
    ["source", "outcome"], registry=REGISTRY,
)
ANOMALIES = Counter(
    "aiops_anomalies_total", "Anomalies detected, by detector.", ["detector"], registry=REGISTRY,
)
INCIDENT_CHANGES = Counter(
    "aiops_incident_changes_total", "Incident changes by kind (created, updated, suppressed).",
    ["change"], registry=REGISTRY,
)
SHORE_OUTBOX_COALESCED = Counter(
    "aiops_shore_outbox_coalesced_total",
    "Incident updates and insights not sent to shore because a newer version was in the same batch.",
    registry=REGISTRY,
)
CONSUMER_PENDING = Gauge(
    "aiops_consumer_pending_messages", "Messages waiting for a durable consumer (lag).",
    ["consumer"], registry=REGISTRY,
)
CONSUMER_ACK_PENDING = Gauge(
    "aiops_consumer_ack_pending_messages", "Messages delivered but not yet acknowledged.",
    ["consumer"], registry=REGISTRY,
)
STORE_ERRORS = Counter(
    "aiops_store_errors_total", "Store operations that failed, by operation.", ["operation"], registry=REGISTRY,
)
STORE_UP = Gauge("aiops_store_up", "1 when the store answered its last health check.", registry=REGISTRY)
NATS_UP = Gauge("aiops_nats_up", "1 when the bus connection is up.", registry=REGISTRY)
LLM_UP = Gauge("aiops_llm_up", "1 when the LLM answered its last request or probe.", registry=REGISTRY)
HTTP_REQUESTS = Counter(
    "aiops_http_requests_total", "API requests by route and status class.",
    ["route", "status"], registry=REGISTRY,
)
INGEST_BUFFERED = Gauge(
    "aiops_ingest_disk_buffer_lines", "Lines held in ingest's disk buffer while NATS is down.", registry=REGISTRY,
)
STORE_DISK_USED = Gauge(
    "aiops_store_disk_used_pct", "Use of the store's fullest disk, in percent.", registry=REGISTRY,
)
DISK_WATERMARK = Gauge(
    "aiops_disk_watermark",
    "0 below retention.yaml's high watermark; 1 above it (oldest raw logs dropped early); "
    "2 above critical (raw logs not archived).",
    registry=REGISTRY,
)
RETENTION_DROPPED = Counter(
    "aiops_retention_partitions_dropped_total", "Raw-log day partitions dropped ahead of their TTL (disk high).",
    registry=REGISTRY,
)


def render(workers: Sequence[tuple[str, str]] = ()) -> tuple[bytes, str]:
    """This process's metrics, and the embedded node's workers' (name, exposition) merged into
    the same families, each of their samples labelled `worker="<name>"`: one scrape shows the
    node, and `sum by (role)` adds the processes up."""
    if not workers:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    families = {family.name: family for family in REGISTRY.collect()}
    for worker, text in workers:
        for parsed in text_string_to_metric_families(text):
            family = families.get(parsed.name)
            if family is None:
                family = families[parsed.name] = Metric(parsed.name, parsed.documentation, parsed.type, parsed.unit)
            family.samples.extend(
                sample._replace(labels={**sample.labels, "worker": worker}) for sample in parsed.samples
            )
    merged = CollectorRegistry(auto_describe=False)
    merged.register(_Families(list(families.values())))
    return generate_latest(merged), CONTENT_TYPE_LATEST


class _Families:
    """A collector of already-collected families (the merge above)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families
