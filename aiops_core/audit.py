"""The audit trail: one `audit_log` row for every mutation of the platform's state, saying who
did what to which target, when, and with what result.

Every mutating API route records one (incidents, tokens, remediation actions and approvals),
refusals included: an approval the policy turned down is as much a fact as one it accepted.
Log lines and metric samples posted to ingest are data flowing through the pipeline, not changes
to the platform's state, so they are counted in metrics but not audited.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from aiops_core.auth import Identity
from aiops_core.models import AuditEvent, utc_now
from aiops_core.store import Store

AUDIT_COLUMNS = ["audit_id", "at", "actor", "role", "action", "target", "result", "details"]

# The platform itself, for changes no person made (proposals from an insight, expiries).
SYSTEM = Identity("aiops", "system")

_FILTER = """
WHERE ({actor:String} = '' OR actor = {actor:String})
  AND ({action:String} = '' OR action = {action:String})
  AND ({target:String} = '' OR target = {target:String})
  AND at >= {since:DateTime64(6, 'UTC')}
"""

SEARCH = (
    "SELECT toString(audit_id) AS audit_id, at, actor, role, action, target, result, details "
    "FROM aiops.audit_log FINAL" + _FILTER
    + "ORDER BY at DESC, audit_id LIMIT {limit:UInt32} OFFSET {offset:UInt32}"
)
COUNT = "SELECT count() FROM aiops.audit_log FINAL" + _FILTER


def event_row(event: AuditEvent) -> list[Any]:
    return [
        event.audit_id, event.at, event.actor, event.role, event.action, event.target, event.result,
        orjson.dumps(event.details, default=str).decode(),
    ]


async def record(
    store: Store,
    identity: Identity,
    action: str,
    target: str,
    result: str,
    details: dict[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> AuditEvent:
    """Writes one audit entry: `action` is what was attempted (`incident.update`), `target` what
    it was done to (`incident:<id>`), `result` how it ended (`ok`, `refused`, `failed`, ...)."""
    event = AuditEvent(
        audit_id=str(uuid.uuid4()), at=at or utc_now(), actor=identity.name[:256],
        role=identity.role, action=action, target=target[:256], result=result,
        details=details or {},
    )
    await store.insert("audit_log", AUDIT_COLUMNS, [event_row(event)])
    return event


async def search(
    store: Store, *, actor: str = "", action: str = "", target: str = "", since: datetime,
    limit: int, offset: int,
) -> tuple[list[AuditEvent], int]:
    """Audit entries newest first, each filter exact when given, and the total that match."""
    params = {"actor": actor, "action": action, "target": target, "since": since}
    rows = await store.query(SEARCH, {**params, "limit": limit, "offset": offset})
    total = await store.scalar(COUNT, params)
    return [_event(row) for row in rows], int(total or 0)


def _event(row: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        audit_id=row["audit_id"], at=row["at"], actor=row["actor"], role=row["role"],
        action=row["action"], target=row["target"], result=row["result"],
        details=orjson.loads(row["details"]) if row["details"] else {},
    )
