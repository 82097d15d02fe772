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

# Resolved incidents; the document carries the operator's resolution.
RESOLVED_INCIDENTS = """
SELECT toString(incident_id) AS incident_id, argMax(doc, version) AS doc
FROM aiops.incidents
GROUP BY incident_id
HAVING argMax(status, version) = 'resolved'
LIMIT {limit:UInt32}
"""

# Incidents by id, each at its newest version (the resolved incidents the RAG index re-embeds).
# Not aliased `incident_id`: the alias would take the column's place in WHERE.
INCIDENTS_BY_ID = """
SELECT toString(incident_id) AS id, argMax(doc, version) AS doc
FROM aiops.incidents
WHERE incident_id IN {ids:Array(UUID)}
GROUP BY incident_id
"""
