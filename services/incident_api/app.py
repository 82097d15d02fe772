"""The incident-api role's wiring: consumes `incidents.*`, serves each incident change from memory
at once and writes its row with its anomalies, timeline and trace behind, in bulk (recent.py,
write_behind.py), stores insights in one insert per batch, and serves /api/v3."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from aiops_core import audit, metrics
from aiops_core.auth import Admin, Operator, Viewer
from aiops_core.bus import INCIDENTS_CREATED, INCIDENTS_STATUS, AckAfter, Incoming, Outgoing
from aiops_core.logging import StructuredLogger
from aiops_core.models import (
    EnrichedIncident,
    Identifier,
    Incident,
    IncidentChange,
    IncidentStatus,
    IncidentType,
    Severity,
    utc_now,
)
from aiops_core.runtime import Runtime, RuntimeDep
from aiops_core.store import clamp_time
from services.incident_api import handlers, queries, recent
from services.incident_api.console import console_router
from services.incident_api.queries import EPOCH, FAR_FUTURE
from services.incident_api.trace import build_trace
from services.incident_api.write_behind import WriteBehind, insert_details
from services.remediation import routes as remediation_routes
from services.remediation.app import start_remediation
from services.shore_sync.app import start_shore_sync

log = StructuredLogger.get_logger(__name__, service="incident-api")


class IncidentApiRole:
    name = "incident-api"

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.recent = recent.RecentIncidents()
        self.behind: WriteBehind | None = None
        # Operator statuses (acknowledged/resolved) outrank correlation's "open" on later updates.
        self.operator_status: dict[str, IncidentStatus] = {}

    async def start(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.behind = WriteBehind(runtime.store, on_written=self.recent.written)
        for row in await runtime.store.query(queries.OPERATOR_STATUSES):
            self.operator_status[row["incident_id"]] = IncidentStatus(row["status"])
        runtime.consume("incident-api", self.store_batch, batch=500)
        await start_remediation(runtime, self.recent)
        await start_shore_sync(runtime, self._write, self.operator_status)

    async def stop(self) -> None:
        return None

    async def store_batch(self, items: list[Incoming]) -> AckAfter:
        """The batch's incidents are served from memory at once (stored: the changes are durable
        in the stream until acked), its insight rows are inserted, and its incident and detail
        rows go to the write-behind; the inputs are acked once those are stored too. A store
        failure retries the batch (no loss)."""
        assert self.runtime and self.behind
        started = utc_now()
        rows = handlers.Rows()
        for item in items:
            message = item.message
            if isinstance(message, IncidentChange):
                if message.change == "status":
                    continue  # written synchronously by the PATCH that published it
                handlers.add_change(
                    rows, message, stored_at=started, started=started,
                    operator_status=self.operator_status.get(message.incident.incident_id),
                )
            elif isinstance(message, EnrichedIncident):
                handlers.add_insight(rows, message, stored_at=started)
        for incident in rows.incidents:
            self.recent.put(incident)
        handlers.mark_stored(rows, utc_now())
        await self.runtime.store.insert("incident_insights", handlers.INSIGHT_COLUMNS, rows.insights, urgent=True)
        finished = utc_now()
        for ms in rows.fast_path_ms:
            metrics.FAST_PATH_LATENCY.observe(ms / 1000)
        for ms in rows.insight_path_ms:
            metrics.INSIGHT_PATH_LATENCY.observe(ms / 1000)
        metrics.STAGE_LATENCY.labels(handlers.STAGE).observe((finished - started).total_seconds())
        return AckAfter([[] for _ in items], self.behind.add(rows))

    async def _write(self, rows: handlers.Rows) -> None:
        """Every row at once, for a writer that answers only when all is stored (a POSTed
        incident, the shore hub's fleet)."""
        assert self.runtime
        store = self.runtime.store
        incidents = handlers.newest(rows.incidents)
        await asyncio.gather(
            store.insert("incidents", handlers.INCIDENT_COLUMNS, [handlers.incident_row(i) for i in incidents], urgent=True),
            store.insert("incident_insights", handlers.INSIGHT_COLUMNS, rows.insights, urgent=True),
        )
        handlers.mark_stored(rows, utc_now())
        self.recent.written(incidents)
        await insert_details(store, rows)

    async def load_incident(self, incident_id: str) -> Incident | None:
        assert self.runtime
        return await recent.load_incident(self.runtime.store, self.recent, incident_id)

    async def change_status(self, incident: Incident, to: IncidentStatus, *, actor: str, comment: str,
                            resolution: str | None) -> Incident:
        assert self.runtime
        changed, event = handlers.transition(
            incident, to, actor=actor, comment=comment, now=utc_now(), resolution=resolution
        )
        await self.runtime.store.insert("incident_events", handlers.EVENT_COLUMNS, [handlers.event_row(changed.incident_id, event)])
        await self.runtime.store.insert("incidents", handlers.INCIDENT_COLUMNS, [handlers.incident_row(changed)])
        self.recent.written([changed])
        self.operator_status[changed.incident_id] = to
        await self.runtime.bus.publish(Outgoing(
            INCIDENTS_STATUS,
            IncidentChange(change="status", incident=changed, actor=actor),
            f"status:{changed.incident_id}:{changed.version}",
        ))
        metrics.INCIDENT_CHANGES.labels(f"status_{to.value}").inc()
        return changed

    def routers(self) -> list[APIRouter]:
        return [_incident_router(self), _trace_router(), _token_router(), *remediation_routes.routers(), console_router()]


class IncidentIn(BaseModel):
    """An incident an operator opens by hand (a phone call from the bridge, say)."""

    model_config = ConfigDict(extra="forbid")

    ship_id: Identifier | None = None
    incident_type: IncidentType
    severity: Severity
    title: str = Field(min_length=3, max_length=256)
    device_id: Identifier
    description: str = Field("", max_length=4000)


class IncidentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "acknowledged", "resolved", "suppressed"]
    comment: str = Field("", max_length=4000)
    resolution: str | None = Field(None, max_length=4000, description="What fixed it (resolve only); feeds RAG.")


def _incident_json(incident: Incident, insight: str | None) -> dict[str, Any]:
    body = incident.model_dump(mode="json")
    body["insight"] = orjson.loads(insight) if insight else None
    return body


async def _insights(runtime: Runtime, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await runtime.store.query(queries.LATEST_INSIGHTS, {"ids": ids})
    return {row["id"]: row["insight"] for row in rows}


def _uuid(value: str, field: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise HTTPException(422, detail=[{"loc": f"path.{field}", "msg": "must be a UUID"}]) from exc


def _incident_router(role: IncidentApiRole) -> APIRouter:
    router = APIRouter(prefix="/api/v3", tags=["incidents"])

    @router.get("/incidents", summary="List incidents, newest activity first")
    async def list_incidents(
        runtime: RuntimeDep,
        _: Viewer,
        ship_id: Annotated[str | None, Query(max_length=64)] = None,
        status: IncidentStatus | None = None,
        severity: Severity | None = None,
        incident_type: IncidentType | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        where = recent.IncidentFilter(
            ship_id=ship_id or "", status=status.value if status else "",
            severity=severity.value if severity else "", incident_type=incident_type.value if incident_type else "",
            since=_aware(since), until=_aware(until),
        )
        incidents, total = await recent.list_incidents(runtime.store, role.recent, where, offset=offset, limit=limit)
        insights = await _insights(runtime, [i.incident_id for i in incidents])
        return {
            "items": [_incident_json(i, insights.get(i.incident_id)) for i in incidents],
            "total": total, "limit": limit, "offset": offset,
        }

    @router.get("/incidents/{incident_id}", summary="One incident with its timeline, anomalies and insight")
    async def get_incident(incident_id: str, runtime: RuntimeDep, _: Viewer) -> dict[str, Any]:
        incident_id = _uuid(incident_id, "incident_id")
        incident = await role.load_incident(incident_id)
        if incident is None:
            raise HTTPException(404, detail=f"no incident {incident_id}")
        params = {"incident_id": incident_id, "limit": 1000}
        events = await runtime.store.query(queries.INCIDENT_EVENTS, params)
        anomalies = await runtime.store.query(queries.INCIDENT_ANOMALIES, {**params, "limit": 500})
        insights = await _insights(runtime, [incident_id])
        body = _incident_json(incident, insights.get(incident_id))
        body["timeline"] = [_jsonable(e) for e in events] or body["timeline"]
        body["anomalies"] = [_jsonable(a) for a in anomalies]
        return body

    @router.post("/incidents", status_code=201, summary="Open an incident by hand")
    async def create_incident(body: IncidentIn, runtime: RuntimeDep, who: Operator) -> dict[str, Any]:
        actor = who.name
        incident = handlers.manual_incident(
            ship_id=body.ship_id or runtime.settings.ship_id, incident_type=body.incident_type,
            severity=body.severity, title=body.title, device_id=body.device_id,
            description=body.description, actor=actor, now=utc_now(),
        )
        change = IncidentChange(change="created", incident=incident, actor=actor)
        rows = handlers.Rows()
        handlers.add_change(rows, change, stored_at=incident.created_at, started=incident.created_at, operator_status=None)
        await role._write(rows)
        await runtime.bus.publish(Outgoing(INCIDENTS_CREATED, change, f"{incident.incident_id}:1"))
        await audit.record(runtime.store, who, "incident.create", f"incident:{incident.incident_id}", "ok",
                           {"title": body.title, "severity": body.severity.value, "device_id": body.device_id})
        return _incident_json(incident, None)

    @router.patch("/incidents/{incident_id}", summary="Acknowledge, resolve, suppress or reopen")
    async def patch_incident(incident_id: str, body: IncidentPatch, runtime: RuntimeDep, who: Operator) -> dict[str, Any]:
        incident_id = _uuid(incident_id, "incident_id")
        incident = await role.load_incident(incident_id)
        if incident is None:
            raise HTTPException(404, detail=f"no incident {incident_id}")
        if body.resolution and body.status != "resolved":
            raise HTTPException(422, detail=[{"loc": "body.resolution", "msg": "only with status resolved"}])
        try:
            changed = await role.change_status(
                incident, IncidentStatus(body.status), actor=who.name, comment=body.comment, resolution=body.resolution
            )
        except handlers.InvalidTransition as exc:
            await audit.record(runtime.store, who, "incident.update", f"incident:{incident_id}", "conflict",
                               {"status": body.status, "reason": str(exc)})
            raise HTTPException(409, detail=str(exc)) from exc
        await audit.record(runtime.store, who, "incident.update", f"incident:{incident_id}", "ok",
                           {"from": incident.status.value, "to": body.status, "comment": body.comment})
        insights = await _insights(runtime, [incident_id])
        return _incident_json(changed, insights.get(incident_id))

    @router.get("/stats", summary="Counts, path latencies and SLO compliance over a time range")
    async def stats(runtime: RuntimeDep, _: Viewer, time_range: str = "1h") -> dict[str, Any]:
        try:
            seconds = handlers.parse_time_range(time_range)
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": "query.time_range", "msg": str(exc)}]) from exc
        since = utc_now() - timedelta(seconds=seconds)
        counts, fast, insight = await asyncio.gather(
            runtime.store.query(queries.STATS_COUNTS, {"since": since, "held": role.recent.ids()}),
            runtime.store.query(queries.STATS_FAST_PATH, {"since": since}),
            runtime.store.query(queries.STATS_INSIGHT_PATH, {"since": since}),
        )
        by: dict[str, dict[str, int]] = {"severity": {}, "status": {}, "incident_type": {}, "ship_id": {}}
        incidents_total = 0
        for row in [*counts, *role.recent.counts(since)]:
            incidents_total += row["n"]
            for key in by:
                by[key][row[key]] = by[key].get(row[key], 0) + int(row["n"])
        fast_q = handlers.quantiles(fast[0] if fast else None)
        insight_q = handlers.quantiles(insight[0] if insight else None)
        anomalies_total = fast_q["count"]
        error_rate = _error_rate_pct()
        return {
            "time_range": time_range,
            "since": since.isoformat(),
            "incidents": {"total": incidents_total, "by_severity": by["severity"], "by_status": by["status"],
                          "by_type": by["incident_type"], "by_ship": by["ship_id"]},
            "anomalies": {"total": anomalies_total, "basic_enrichment": int(fast[0]["basic"]) if fast else 0},
            "fast_path": fast_q,
            "insight_path": {**insight_q, "fallback": int(insight[0]["fallback"]) if insight and insight[0]["n"] else 0},
            "dedup": {"anomalies": anomalies_total, "incidents": incidents_total,
                      "deduplicated": max(0, anomalies_total - incidents_total)},
            "suppressed": by["status"].get("suppressed", 0),
            "slo": handlers.slo_compliance(runtime.policy.slo, {
                "fast_path_p99_ms": fast_q["p99_ms"], "insight_path_p99_ms": insight_q["p99_ms"], "error_rate_pct": error_rate,
            }),
        }

    return router


def _trace_router() -> APIRouter:
    router = APIRouter(prefix="/api/v3", tags=["trace"])

    @router.get("/logs", summary="Search the raw-log archive (newest first)")
    async def search_logs(
        runtime: RuntimeDep,
        _: Viewer,
        ship_id: Annotated[str | None, Query(max_length=64)] = None,
        device_id: Annotated[str | None, Query(max_length=64)] = None,
        level: Annotated[str | None, Query(max_length=16)] = None,
        contains: Annotated[str | None, Query(max_length=256, description="case-insensitive substring")] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        rows = await runtime.store.query(queries.SEARCH_LOGS, {
            "ship_id": ship_id or "", "device_id": device_id or "", "level": level or "",
            "contains": contains or "", "since": _aware(since) or EPOCH, "until": _aware(until) or FAR_FUTURE,
            "limit": limit,
        })
        return {"items": [_jsonable(r) for r in rows]}

    @router.get("/trace/{tracking_id}", summary="End-to-end trace of one log")
    async def get_trace(tracking_id: str, runtime: RuntimeDep, _: Viewer) -> dict:
        tracking_id = _uuid(tracking_id, "tracking_id")
        params = {"tracking_id": tracking_id}
        stages = await runtime.store.query(queries.TRACE_STAGES, params)
        logs = await runtime.store.query(queries.ARCHIVED_LOG, params)
        if not stages and not logs:
            raise HTTPException(404, detail=f"no trace for tracking_id {tracking_id}")
        return build_trace(tracking_id, stages, logs[0] if logs else None)

    return router


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["viewer", "operator", "approver", "admin", "ingest"]
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9 ._@-]+$")


def _token_router() -> APIRouter:
    router = APIRouter(prefix="/api/v3", tags=["auth"])

    @router.post("/tokens", status_code=201, summary="Create a token (shown once)")
    async def create_token(body: TokenIn, runtime: RuntimeDep, who: Admin) -> dict[str, str]:
        token = await runtime.services["auth"].create(body.role, body.name)
        await audit.record(runtime.store, who, "token.create", f"token:{body.name}", "ok", {"role": body.role})
        return {"token": token, "role": body.role, "name": body.name}

    @router.get("/whoami", summary="The identity behind the presented token")
    async def whoami(who: Viewer) -> dict[str, str]:
        return {"name": who.name, "role": who.role}

    return router


def _error_rate_pct() -> float | None:
    """Dead-lettered share of bus messages handled by this process since it started."""
    total = dlq = 0.0
    for metric in metrics.MESSAGES.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                total += sample.value
                if sample.labels.get("outcome") == "dlq":
                    dlq += sample.value
    return round(100 * dlq / total, 4) if total else None


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else clamp_time(value)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
