-- The ship's tables. ReplacingMergeTree keys make a redelivered write idempotent: the same
-- message written twice collapses to one row (queries use FINAL or argMax where it matters).
CREATE DATABASE IF NOT EXISTS aiops;

CREATE TABLE IF NOT EXISTS aiops.logs_raw (
    tracking_id UUID,
    ship_id LowCardinality(String),
    device_id LowCardinality(String),
    service LowCardinality(String),
    level LowCardinality(String),
    message String,
    host String,
    source LowCardinality(String),
    timestamp DateTime64(3, 'UTC'),
    ingestion_timestamp DateTime64(6, 'UTC'),
    fields String,
    trace String,
    INDEX idx_tracking_id tracking_id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(ingestion_timestamp)
ORDER BY (ship_id, toStartOfHour(ingestion_timestamp), tracking_id);

CREATE TABLE IF NOT EXISTS aiops.anomalies (
    anomaly_id UUID,
    tracking_id UUID,
    incident_id UUID,
    ship_id LowCardinality(String),
    device_id LowCardinality(String),
    service LowCardinality(String),
    detector LowCardinality(String),
    incident_type LowCardinality(String),
    severity LowCardinality(String),
    score Float32,
    template String,
    template_id String,
    metric String,
    value Nullable(Float64),
    message String,
    evidence String,
    enrichment_level LowCardinality(String),
    detected_at DateTime64(6, 'UTC'),
    ingestion_timestamp DateTime64(6, 'UTC'),
    event_timestamp DateTime64(3, 'UTC'),
    stored_at DateTime64(6, 'UTC'),
    -- ingestion to incident stored: the fast path as the operator experiences it
    fast_path_ms Float64,
    INDEX idx_incident incident_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_tracking tracking_id TYPE bloom_filter GRANULARITY 4
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(detected_at)
ORDER BY (ship_id, toStartOfHour(detected_at), anomaly_id);

CREATE TABLE IF NOT EXISTS aiops.incidents (
    incident_id UUID,
    ship_id LowCardinality(String),
    fingerprint String,
    incident_type LowCardinality(String),
    severity LowCardinality(String),
    status LowCardinality(String),
    title String,
    root_cause_device LowCardinality(String),
    anomaly_count UInt32,
    first_seen DateTime64(3, 'UTC'),
    last_seen DateTime64(3, 'UTC'),
    created_at DateTime64(6, 'UTC'),
    updated_at DateTime64(6, 'UTC'),
    version UInt64,
    doc String
) ENGINE = ReplacingMergeTree(version)
ORDER BY (ship_id, incident_id);

CREATE TABLE IF NOT EXISTS aiops.incident_events (
    incident_id UUID,
    at DateTime64(6, 'UTC'),
    kind LowCardinality(String),
    summary String,
    tracking_id String,
    device_id String,
    actor String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (incident_id, at, kind, tracking_id);

CREATE TABLE IF NOT EXISTS aiops.incident_insights (
    incident_id UUID,
    ship_id LowCardinality(String),
    incident_version UInt64,
    source LowCardinality(String),
    generated_at DateTime64(6, 'UTC'),
    stored_at DateTime64(6, 'UTC'),
    -- incident change published to insight stored: the insight path
    insight_path_ms Float64,
    insight String
) ENGINE = ReplacingMergeTree(generated_at)
ORDER BY incident_id;

CREATE TABLE IF NOT EXISTS aiops.pipeline_trace (
    tracking_id UUID,
    stage LowCardinality(String),
    service LowCardinality(String),
    at DateTime64(6, 'UTC'),
    duration_ms Float64,
    incident_id String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(at)
ORDER BY (tracking_id, stage);

CREATE TABLE IF NOT EXISTS aiops.devices (
    ship_id LowCardinality(String),
    device_id String,
    kind LowCardinality(String),
    vendor String,
    model String,
    location String,
    criticality LowCardinality(String),
    upstream Array(String),
    services Array(String),
    host_aliases Array(String),
    mgmt_ip String,
    updated_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (ship_id, device_id);

CREATE TABLE IF NOT EXISTS aiops.llm_cache (
    signature String,
    insight String,
    model String,
    created_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(created_at)
ORDER BY signature;

CREATE TABLE IF NOT EXISTS aiops.actions (
    action_id UUID,
    incident_id String,
    ship_id LowCardinality(String),
    action LowCardinality(String),
    target_device String,
    status LowCardinality(String),
    risk LowCardinality(String),
    requested_by String,
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(6, 'UTC'),
    doc String
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (ship_id, action_id);

CREATE TABLE IF NOT EXISTS aiops.approvals (
    approval_id UUID,
    action_id UUID,
    approver String,
    decision LowCardinality(String),
    comment String,
    at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (action_id, approval_id);

CREATE TABLE IF NOT EXISTS aiops.audit_log (
    audit_id UUID,
    at DateTime64(6, 'UTC'),
    actor String,
    role LowCardinality(String),
    action LowCardinality(String),
    target String,
    result LowCardinality(String),
    details String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, audit_id);

CREATE TABLE IF NOT EXISTS aiops.api_tokens (
    token_hash String,
    name String,
    role LowCardinality(String),
    created_at DateTime64(3, 'UTC'),
    revoked UInt8
) ENGINE = ReplacingMergeTree(created_at)
ORDER BY token_hash;
