"""`python -m services.chaos.counts DSN`: what one store holds, as JSON on stdout.

Its own process because chDB opens one data directory per process: the chaos harness reads the
embedded node's store, or each role's, after the processes holding them have stopped."""

from __future__ import annotations

import asyncio
import sys

import orjson

from aiops_core.store import Store

# FINAL: the tables are ReplacingMergeTrees and every read of the platform uses FINAL or argMax,
# so a redelivered write that left a second physical row is not a second log to anyone.
QUERIES = {
    "archived": "SELECT toString(tracking_id) AS tracking_id, count() AS n FROM aiops.logs_raw FINAL GROUP BY tracking_id",
    "anomalies": (
        "SELECT toString(tracking_id) AS tracking_id, toString(anomaly_id) AS anomaly_id, "
        "toString(incident_id) AS incident_id FROM aiops.anomalies FINAL"
    ),
    "incidents": (
        "SELECT toString(incident_id) AS incident_id, root_cause_device, incident_type, anomaly_count, status "
        "FROM aiops.incidents FINAL"
    ),
    "physical_rows": (
        "SELECT (SELECT count() FROM aiops.logs_raw) AS logs_raw, (SELECT count() FROM aiops.anomalies) AS anomalies"
    ),
}


async def read_counts(dsn: str) -> dict:
    store = Store(dsn, timeout_seconds=120.0)
    await store.start()
    try:
        return {name: await store.query(sql) for name, sql in QUERIES.items()}
    finally:
        await store.close()


def main() -> int:
    counts = asyncio.run(read_counts(sys.argv[1]))
    sys.stdout.buffer.write(orjson.dumps(counts, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
