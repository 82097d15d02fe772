"""The enrichment role's SQL: background reads only, never one per message.

The device registry is loaded with `aiops_core.devices.LOAD_DEVICES_SQL`. The anomaly reads count
distinct anomalies per key and time bucket since `since`, in bucket order (so merging appends);
their columns are `history.KEY_COLUMNS[shape]`, then `bucket` (epoch seconds) and `anomalies`.
uniqExact on anomaly_id makes rows the ReplacingMergeTree has not merged yet (a redelivered
write) count once. The signature is built exactly as `history.signature_of` builds it.
"""

from services.enrichment.history import KeyShape

_BUCKETED = """
    SELECT ship_id, device_id, incident_type,
           multiIf(template_id != '', concat('t:', template_id),
                   metric != '', concat('m:', metric), '') AS signature,
           intDiv(toUnixTimestamp(detected_at), {bucket_seconds:UInt32}) * {bucket_seconds:UInt32} AS bucket,
           anomaly_id
    FROM aiops.anomalies
    WHERE detected_at > {since:DateTime64(6, 'UTC')}
"""

ANOMALY_BUCKETS: dict[KeyShape, str] = {
    "device": f"""
SELECT ship_id, device_id, bucket, uniqExact(anomaly_id) AS anomalies
FROM ({_BUCKETED})
GROUP BY ship_id, device_id, bucket
ORDER BY bucket
""",
    "signature": f"""
SELECT ship_id, signature, bucket, uniqExact(anomaly_id) AS anomalies
FROM ({_BUCKETED})
WHERE signature != ''
GROUP BY ship_id, signature, bucket
ORDER BY bucket
""",
    "type_device": f"""
SELECT ship_id, incident_type, device_id, bucket, uniqExact(anomaly_id) AS anomalies
FROM ({_BUCKETED})
GROUP BY ship_id, incident_type, device_id, bucket
ORDER BY bucket
""",
    "type_device_signature": f"""
SELECT ship_id, incident_type, device_id, signature, bucket, uniqExact(anomaly_id) AS anomalies
FROM ({_BUCKETED})
WHERE signature != ''
GROUP BY ship_id, incident_type, device_id, signature, bucket
ORDER BY bucket
""",
    "type": f"""
SELECT ship_id, incident_type, bucket, uniqExact(anomaly_id) AS anomalies
FROM ({_BUCKETED})
GROUP BY ship_id, incident_type, bucket
ORDER BY bucket
""",
}

# Each device's most recently active incident, as root cause or as an affected device (the
# column migration 0003 materialises from the incident's document).
LAST_INCIDENTS = """
SELECT ship_id, device_id,
       toString(argMax(incident_id, last_seen)) AS incident_id,
       max(last_seen) AS last_incident_at
FROM aiops.incidents
ARRAY JOIN arrayDistinct(arrayPushFront(affected_devices, root_cause_device)) AS device_id
GROUP BY ship_id, device_id
"""
