"""The ingest role's writes: the raw-log archive and the ingest stage of the pipeline trace."""

from __future__ import annotations

import orjson

from aiops_core.models import LogEntry

LOGS_RAW_COLUMNS = [
    "tracking_id", "ship_id", "device_id", "service", "level", "message", "host", "source",
    "timestamp", "ingestion_timestamp", "fields", "trace",
]
TRACE_COLUMNS = ["tracking_id", "stage", "service", "at", "duration_ms", "incident_id"]


def archive_row(entry: LogEntry) -> list:
    return [
        entry.tracking_id, entry.ship_id, entry.device_id, entry.service, entry.level.value,
        entry.message, entry.host or "", entry.source, entry.timestamp, entry.ingestion_timestamp,
        orjson.dumps(entry.fields, default=str).decode(),
        orjson.dumps([s.model_dump(mode="json") for s in entry.trace]).decode(),
    ]


def trace_rows(entry: LogEntry) -> list[list]:
    return [[entry.tracking_id, s.stage, s.service, s.at, s.duration_ms, ""] for s in entry.trace]
