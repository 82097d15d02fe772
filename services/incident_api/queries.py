"""The incident-api's SQL. Every value is a `{name:Type}` parameter."""

from datetime import datetime, timezone

# An open end of a time filter: the SQL compares against these rather than change its text.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=timezone.utc)

TRACE_STAGES = """
SELECT stage, service, at, duration_ms, incident_id
FROM aiops.pipeline_trace FINAL
WHERE tracking_id = {tracking_id:UUID}
ORDER BY at
"""

ARCHIVED_LOG = """
SELECT tracking_id, ship_id, device_id, service, level, message, host, source,
       timestamp, ingestion_timestamp, fields
FROM aiops.logs_raw
WHERE tracking_id = {tracking_id:UUID}
LIMIT 1
"""

# Incidents are partitioned by creation week and every version of one incident lies in one
# partition (migration 0002), so FINAL need not merge across partitions: a settled week is read
# as it is, and only the weeks still changing are merged.
_FINAL_BY_PARTITION = "\nSETTINGS do_not_merge_across_partitions_select_final = 1"

# Optional filters compare against '' so the SQL text never changes with the request. The
# incidents the API holds in memory (recent.py) are left out: their newer change replaces the row.
_INCIDENT_FILTER = """
WHERE incident_id NOT IN {held:Array(UUID)}
  AND ({ship_id:String} = '' OR ship_id = {ship_id:String})
  AND ({status:String} = '' OR status = {status:String})
  AND ({severity:String} = '' OR severity = {severity:String})
  AND ({incident_type:String} = '' OR incident_type = {incident_type:String})
  AND last_seen >= {since:DateTime64(6, 'UTC')}
  AND first_seen <= {until:DateTime64(6, 'UTC')}
"""

LIST_INCIDENTS = (
    "SELECT doc, status FROM aiops.incidents FINAL" + _INCIDENT_FILTER
    + "ORDER BY last_seen DESC, incident_id LIMIT {limit:UInt32} OFFSET {offset:UInt32}"
    + _FINAL_BY_PARTITION
)

COUNT_INCIDENTS = "SELECT count() FROM aiops.incidents FINAL" + _INCIDENT_FILTER + _FINAL_BY_PARTITION

GET_INCIDENT = """
SELECT doc, status FROM aiops.incidents FINAL
WHERE incident_id = {incident_id:UUID}
LIMIT 1
""" + _FINAL_BY_PARTITION

LATEST_INSIGHTS = """
SELECT toString(incident_id) AS id, argMax(insight, generated_at) AS insight
FROM aiops.incident_insights
WHERE incident_id IN {ids:Array(UUID)}
GROUP BY incident_id
"""

INCIDENT_EVENTS = """
SELECT at, kind, summary, tracking_id, device_id, actor
FROM aiops.incident_events FINAL
WHERE incident_id = {incident_id:UUID}
ORDER BY at, kind
LIMIT {limit:UInt32}
"""

INCIDENT_ANOMALIES = """
SELECT toString(anomaly_id) AS anomaly_id, toString(tracking_id) AS tracking_id, device_id, service,
       detector, incident_type, severity, score, template, metric, value, message, enrichment_level,
       detected_at, ingestion_timestamp, fast_path_ms
FROM aiops.anomalies FINAL
WHERE incident_id = {incident_id:UUID}
ORDER BY detected_at DESC
LIMIT {limit:UInt32}
"""

OPERATOR_STATUSES = """
SELECT toString(incident_id) AS incident_id, argMax(status, updated_at) AS status
FROM aiops.incidents
WHERE incident_id IN (
    SELECT DISTINCT incident_id FROM aiops.incident_events WHERE kind = 'status'
)
GROUP BY incident_id
"""

STATS_COUNTS = """
SELECT ship_id, severity, status, incident_type, count() AS n
FROM aiops.incidents FINAL
WHERE last_seen >= {since:DateTime64(6, 'UTC')}
  AND incident_id NOT IN {held:Array(UUID)}
GROUP BY ship_id, severity, status, incident_type
""" + _FINAL_BY_PARTITION

STATS_FAST_PATH = """
SELECT count() AS n, quantilesExact(0.5, 0.95, 0.99)(fast_path_ms) AS q,
       countIf(enrichment_level = 'basic') AS basic
FROM aiops.anomalies
WHERE stored_at >= {since:DateTime64(6, 'UTC')}
"""

STATS_INSIGHT_PATH = """
SELECT count() AS n, quantilesExact(0.5, 0.95, 0.99)(insight_path_ms) AS q,
       countIf(source = 'fallback') AS fallback
FROM aiops.incident_insights
WHERE stored_at >= {since:DateTime64(6, 'UTC')}
"""

SEARCH_LOGS = """
SELECT toString(tracking_id) AS tracking_id, ship_id, device_id, service, level, message, host, source,
       timestamp, ingestion_timestamp
FROM aiops.logs_raw
WHERE ({ship_id:String} = '' OR ship_id = {ship_id:String})
  AND ({device_id:String} = '' OR device_id = {device_id:String})
  AND ({level:String} = '' OR level = {level:String})
  AND ({contains:String} = '' OR positionCaseInsensitive(message, {contains:String}) > 0)
  AND ingestion_timestamp >= {since:DateTime64(6, 'UTC')}
  AND ingestion_timestamp <= {until:DateTime64(6, 'UTC')}
ORDER BY ingestion_timestamp DESC
-- A line archived twice (Vector and the ingest archiver, or a redelivery) shows once.
LIMIT 1 BY tracking_id
LIMIT {limit:UInt32}
"""
