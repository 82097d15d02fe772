"""The remediation SQL and row builders. Every value is a `{name:Type}` parameter.

`actions` is a ReplacingMergeTree by `updated_at`: each state change writes the whole action
again, and FINAL reads the latest row (filters on status apply after the merge)."""

from __future__ import annotations

from typing import Any

from aiops_core.models import Approval, RemediationAction

ACTION_COLUMNS = [
    "action_id", "incident_id", "ship_id", "action", "target_device", "status", "risk",
    "requested_by", "created_at", "updated_at", "doc",
]
APPROVAL_COLUMNS = ["approval_id", "action_id", "approver", "decision", "comment", "at"]


def action_row(action: RemediationAction) -> list[Any]:
    return [
        action.action_id, action.incident_id or "", action.ship_id, action.action, action.target_device,
        action.status.value, action.risk, action.requested_by, action.created_at, action.updated_at,
        action.model_dump_json(),
    ]


def approval_row(approval: Approval) -> list[Any]:
    return [approval.approval_id, approval.action_id, approval.approver, approval.decision, approval.comment, approval.at]


def action_from(row: dict[str, Any]) -> RemediationAction:
    return RemediationAction.model_validate_json(row["doc"])


def approval_from(row: dict[str, Any]) -> Approval:
    return Approval(
        approval_id=str(row["approval_id"]), action_id=str(row["action_id"]), approver=row["approver"],
        decision=row["decision"], comment=row["comment"], at=row["at"],
    )


_LIST_FILTER = """
WHERE ({incident_id:String} = '' OR incident_id = {incident_id:String})
  AND ({status:String} = '' OR status = {status:String})
"""

LIST_ACTIONS = (
    "SELECT doc FROM aiops.actions FINAL" + _LIST_FILTER
    + "ORDER BY created_at DESC, action_id LIMIT {limit:UInt32} OFFSET {offset:UInt32}"
)
COUNT_ACTIONS = "SELECT count() FROM aiops.actions FINAL" + _LIST_FILTER

GET_ACTIONS = "SELECT doc FROM aiops.actions FINAL WHERE action_id IN {ids:Array(UUID)}"

ACTIONS_IN_STATUS = """
SELECT doc FROM aiops.actions FINAL
WHERE status IN {statuses:Array(String)}
  AND ({ship_id:String} = '' OR ship_id = {ship_id:String})
ORDER BY created_at
"""

# "Mine": what I asked for, and what I decided on.
MINE = """
SELECT doc FROM aiops.actions FINAL
WHERE requested_by = {name:String}
   OR action_id IN (SELECT action_id FROM aiops.approvals WHERE approver = {name:String})
ORDER BY updated_at DESC
LIMIT {limit:UInt32}
"""

APPROVALS_OF = """
SELECT approval_id, action_id, approver, decision, comment, at
FROM aiops.approvals FINAL
WHERE action_id IN {ids:Array(UUID)}
ORDER BY at, approval_id
"""

# The last run of each action on each target: the start of its cooldown.
LAST_RUNS = """
SELECT ship_id, action, target_device, max(updated_at) AS last_run
FROM aiops.actions FINAL
WHERE status IN ('succeeded', 'failed') AND ship_id IN {ship_ids:Array(String)}
GROUP BY ship_id, action, target_device
"""
