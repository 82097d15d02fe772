-- The raw-log archive is written by the engine from the logs.raw messages as they are (NDJSON,
-- one LogEntry a line): the archiver inserts their bytes into `logs_raw_in` (a Null table, which
-- keeps nothing) and these two views write the archive row and the ingest stage's trace rows.
-- Decoding every line in Python and serialising it again for the insert was most of the node's
-- per-line cost (about 48 µs a line, against 14 µs for the engine reading the JSON itself).
--
-- A line the engine cannot read (not JSON, a field of the wrong type) is skipped by the insert's
-- settings (Store.insert_json_lines); one without a required field is filtered here. Neither is
-- lost: detection reads the same message, validates every line against the contract and sends
-- the bad ones to the DLQ with the reason.
CREATE TABLE IF NOT EXISTS aiops.logs_raw_in (
    tracking_id Nullable(UUID),
    ship_id Nullable(String),
    device_id Nullable(String),
    service String DEFAULT 'unknown',
    level String DEFAULT 'info',
    message Nullable(String),
    host String,
    source String DEFAULT 'http',
    timestamp Nullable(DateTime64(3, 'UTC')),
    ingestion_timestamp Nullable(DateTime64(6, 'UTC')),
    fields String DEFAULT '{}',
    trace String DEFAULT '[]'
) ENGINE = Null;

-- Every function here has an OrNull/OrZero form: a view that throws fails the whole insert, and
-- with it every good line of the batch. The required columns are checked in a subquery: in the
-- outer WHERE their names would mean the SELECT's assumeNotNull aliases, never NULL.
CREATE MATERIALIZED VIEW IF NOT EXISTS aiops.logs_raw_in_trace TO aiops.pipeline_trace AS
SELECT
    assumeNotNull(tracking_id) AS tracking_id,
    JSONExtractString(stamp, 'stage') AS stage,
    JSONExtractString(stamp, 'service') AS service,
    assumeNotNull(parseDateTime64BestEffortOrNull(JSONExtractString(stamp, 'at'), 6, 'UTC')) AS at,
    JSONExtractFloat(stamp, 'duration_ms') AS duration_ms,
    '' AS incident_id
FROM (SELECT * FROM aiops.logs_raw_in
      WHERE tracking_id IS NOT NULL AND ship_id IS NOT NULL AND device_id IS NOT NULL AND message IS NOT NULL
          AND timestamp IS NOT NULL AND ingestion_timestamp IS NOT NULL)
ARRAY JOIN JSONExtractArrayRaw(trace) AS stamp
WHERE stage != '' AND parseDateTime64BestEffortOrNull(JSONExtractString(stamp, 'at'), 6, 'UTC') IS NOT NULL;

CREATE MATERIALIZED VIEW IF NOT EXISTS aiops.logs_raw_in_log TO aiops.logs_raw AS
SELECT
    assumeNotNull(tracking_id) AS tracking_id,
    assumeNotNull(ship_id) AS ship_id,
    assumeNotNull(device_id) AS device_id,
    service,
    level,
    assumeNotNull(message) AS message,
    host,
    source,
    assumeNotNull(timestamp) AS timestamp,
    assumeNotNull(ingestion_timestamp) AS ingestion_timestamp,
    fields,
    trace
FROM (SELECT * FROM aiops.logs_raw_in
      WHERE tracking_id IS NOT NULL AND ship_id IS NOT NULL AND device_id IS NOT NULL AND message IS NOT NULL
          AND timestamp IS NOT NULL AND ingestion_timestamp IS NOT NULL);
