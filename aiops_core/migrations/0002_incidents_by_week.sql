-- Incidents partitioned by the week they were created in. An incident's created_at never
-- changes, so all versions of one incident share a partition, and reads use FINAL with
-- do_not_merge_across_partitions_select_final: a settled week (one part) is read without the
-- merge FINAL otherwise does across the whole history; only the weeks still changing (updates
-- and status changes come within days) are merged. A week, not a day: a batch of incident
-- changes then lands in one or two partitions (one part each per insert), and a year of
-- history is 52 partitions.
-- Safe to rerun after a crash at any step: the copy is rebuilt from scratch and rows collapse
-- by version.
DROP TABLE IF EXISTS aiops.incidents_by_week;

CREATE TABLE aiops.incidents_by_week (
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
PARTITION BY toMonday(created_at)
ORDER BY (ship_id, incident_id);

INSERT INTO aiops.incidents_by_week SELECT * FROM aiops.incidents;

EXCHANGE TABLES aiops.incidents AND aiops.incidents_by_week;

DROP TABLE aiops.incidents_by_week;
