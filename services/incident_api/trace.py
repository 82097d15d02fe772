"""Builds the end-to-end trace of one tracking_id from its stage stamps and the archived log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

# Pipeline order, so stages recorded in the same millisecond still list in path order.
STAGE_ORDER = ["ingest", "anomaly-detection", "enrichment", "correlation", "incident-api"]


def build_trace(tracking_id: str, stage_rows: list[dict[str, Any]], log_row: dict[str, Any] | None) -> dict[str, Any]:
    stages = sorted(stage_rows, key=lambda r: (_order(r["stage"]), r["at"]))
    incident_id = next((r["incident_id"] for r in reversed(stages) if r.get("incident_id")), None)
    start = log_row["ingestion_timestamp"] if log_row else (stages[0]["at"] if stages else None)
    end = stages[-1]["at"] if stages else None
    total_ms = _ms(end - start) if start and end else 0.0
    return {
        "tracking_id": tracking_id,
        "stages": [
            {
                "stage": r["stage"],
                "service": r["service"],
                "at": r["at"].isoformat(),
                "duration_ms": round(float(r["duration_ms"]), 3),
                "since_ingestion_ms": round(_ms(r["at"] - start), 3) if start else None,
            }
            for r in stages
        ],
        "total_latency_ms": round(max(total_ms, 0.0), 3),
        "incident_id": incident_id,
        "log": _log(log_row),
    }


def _order(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


def _ms(delta) -> float:
    return delta.total_seconds() * 1000


def _log(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif key == "fields":
            out[key] = orjson.loads(value) if value else {}
        else:
            out[key] = str(value) if key == "tracking_id" else value
    return out
