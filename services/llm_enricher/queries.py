"""The llm-enricher's SQL ({name:Type} parameters only)."""

from __future__ import annotations

CACHE_COLUMNS = ["signature", "insight", "model", "created_at", "expires_at"]

# The newest unexpired entries, to warm the in-memory front at start.
WARM_CACHE = """
SELECT signature, argMax(insight, created_at) AS insight, max(expires_at) AS valid_until
FROM aiops.llm_cache
WHERE expires_at > {now:DateTime64(3, 'UTC')}
GROUP BY signature
ORDER BY max(created_at) DESC
LIMIT {limit:UInt32}
"""

GET_CACHE = """
SELECT argMax(insight, created_at) AS insight, max(expires_at) AS valid_until
FROM aiops.llm_cache
WHERE signature = {signature:String} AND expires_at > {now:DateTime64(3, 'UTC')}
GROUP BY signature
"""

# Resolved incidents and what resolved them (the status event written by the incident-api).
RESOLVED_INCIDENTS = """
SELECT toString(i.incident_id) AS incident_id, i.latest_doc AS doc, e.last_summary AS resolution_event
FROM (
    SELECT incident_id, argMax(doc, version) AS latest_doc, argMax(status, version) AS latest_status
    FROM aiops.incidents GROUP BY incident_id
) AS i
LEFT JOIN (
    SELECT incident_id, argMax(summary, at) AS last_summary
    FROM aiops.incident_events
    WHERE kind = 'status' AND position(summary, '→ resolved') > 0
    GROUP BY incident_id
) AS e ON e.incident_id = i.incident_id
WHERE i.latest_status = 'resolved'
LIMIT {limit:UInt32}
"""
