"""Remediation logic, free of I/O: proposing an action, deciding on it, starting and finishing
its execution, expiring stale approvals, and what an insight's runbooks propose by themselves.

The lifecycle (statuses of `ActionStatus`):

    pending_approval ──approve (enough distinct approvers)──▶ approved ──execute──▶ executing
          │   └──reject / expire──▶ rejected                     │ └─expire─▶ rejected   │
          └── (approvals_required 0: created approved) ──────────┘          succeeded / failed

Every function takes the state it needs and the clock as arguments and returns new models."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from aiops_core.devices import Device
from aiops_core.models import (
    ActionStatus,
    Approval,
    Incident,
    IncidentStatus,
    RemediationAction,
)
from aiops_core.policy import ActionPolicy, RemediatePolicy
from services.remediation import checks
from services.remediation.checks import Refused

STAGE = "remediation"
AUTO_REQUESTER = "aiops"
OPEN_STATUSES = frozenset({
    ActionStatus.PROPOSED, ActionStatus.PENDING_APPROVAL, ActionStatus.APPROVED, ActionStatus.EXECUTING,
})
RUN_STATUSES = frozenset({ActionStatus.SUCCEEDED, ActionStatus.FAILED})
_AUTO_NAMESPACE = uuid.UUID("6f1c2e4a-8a53-4c0e-9d57-3b1f0c1e2a77")


@dataclass(frozen=True)
class Proposal:
    """What someone (or the platform, from an insight) asks to run."""

    ship_id: str
    action: str
    target_device: str
    requested_by: str
    incident_id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def later(now: datetime, previous: datetime) -> datetime:
    """A change time strictly after the previous one: the actions table keeps the latest row."""
    return max(now, previous + timedelta(microseconds=1))


def propose(
    proposal: Proposal, *, policy: RemediatePolicy, device: Device | None,
    open_actions: Iterable[RemediationAction], last_run: datetime | None, now: datetime,
    action_id: str | None = None,
) -> RemediationAction:
    """A new action, approved at once when its policy needs no approver, else pending approval."""
    rule = checks.action_policy(policy, proposal.action)
    checks.check_device_kind(rule, proposal.action, device, proposal.target_device)
    parameters = checks.validate_parameters(rule.parameters, proposal.parameters)
    for other in open_actions:
        if (other.ship_id, other.action, other.target_device) == (proposal.ship_id, proposal.action, proposal.target_device) \
                and other.status in OPEN_STATUSES:
            raise Refused(
                409, f"{proposal.action} on {proposal.target_device} is already {other.status.value} "
                f"(action {other.action_id})",
            )
    checks.check_cooldown(rule, proposal.action, proposal.target_device, last_run, now)
    return RemediationAction(
        action_id=action_id or str(uuid.uuid4()),
        incident_id=proposal.incident_id,
        ship_id=proposal.ship_id,
        action=proposal.action,
        target_device=proposal.target_device,
        parameters=parameters,
        risk=rule.risk,
        status=ActionStatus.APPROVED if rule.approvals_required == 0 else ActionStatus.PENDING_APPROVAL,
        requested_by=proposal.requested_by,
        approvals_required=rule.approvals_required,
        reason=proposal.reason[:16000],
        dry_run=policy.executor.mode == "dry_run",
        created_at=now,
        updated_at=now,
    )


def expires_at(action: RemediationAction, ttl_seconds: int) -> datetime | None:
    """A proposal expires `ttl` after it was made if not approved by then, and an approval
    expires `ttl` after it was given if the action has not run: the incident has moved on."""
    ttl = timedelta(seconds=ttl_seconds)
    if action.status == ActionStatus.PENDING_APPROVAL:
        return action.created_at + ttl
    if action.status == ActionStatus.APPROVED:
        # While approved, updated_at is the moment the last needed approval came in.
        return action.updated_at + ttl
    return None


def expire(action: RemediationAction, *, ttl_seconds: int, now: datetime) -> RemediationAction | None:
    """The action turned rejected when its proposal or approval is stale, else None."""
    deadline = expires_at(action, ttl_seconds)
    if deadline is None or now < deadline:
        return None
    stage = "approval" if action.status == ActionStatus.PENDING_APPROVAL else "execution"
    return action.model_copy(update={
        "status": ActionStatus.REJECTED,
        "result": f"expired: no {stage} within {ttl_seconds} s (deadline {deadline.isoformat()})",
        "updated_at": later(now, action.updated_at),
    })


def decide(
    action: RemediationAction, *, approver: str, decision: Literal["approved", "rejected"], comment: str,
    prior: Iterable[Approval], now: datetime,
) -> tuple[RemediationAction, Approval]:
    """One approver's decision. The requester never decides on their own action and nobody
    decides twice, so `approvals_required` approvals are always that many distinct people."""
    if action.status != ActionStatus.PENDING_APPROVAL:
        raise Refused(409, f"action is {action.status.value}, not pending approval")
    if approver == action.requested_by:
        raise Refused(403, f"{approver} requested this action and cannot decide on it (two-person rule)")
    if any(p.approver == approver for p in prior):
        raise Refused(409, f"{approver} has already decided on this action")
    approval = Approval(
        approval_id=str(uuid.uuid4()), action_id=action.action_id, approver=approver,
        decision=decision, comment=comment[:16000], at=now,
    )
    updated_at = later(now, action.updated_at)
    if decision == "rejected":
        result = f"rejected by {approver}" + (f": {comment}" if comment else "")
        return action.model_copy(update={
            "status": ActionStatus.REJECTED, "result": result[:16000], "updated_at": updated_at,
        }), approval
    approved_by = [*action.approved_by, approver]
    status = ActionStatus.APPROVED if len(approved_by) >= action.approvals_required else ActionStatus.PENDING_APPROVAL
    return action.model_copy(update={
        "approved_by": approved_by, "status": status, "updated_at": updated_at,
    }), approval


def start_execution(
    action: RemediationAction, *, policy: RemediatePolicy, running: Iterable[RemediationAction],
    last_run: datetime | None, now: datetime,
) -> RemediationAction:
    """The action moved to executing, when it is approved and every guard rail still holds:
    maintenance window, cooldown, nothing else running on the device, the ship's concurrency."""
    if action.status != ActionStatus.APPROVED:
        raise Refused(409, f"action is {action.status.value}; only an approved action can be executed")
    rule = checks.action_policy(policy, action.action)
    checks.check_maintenance_window(rule, action.action, policy, action.ship_id, action.target_device, now)
    checks.check_cooldown(rule, action.action, action.target_device, last_run, now)
    running = [r for r in running if r.status == ActionStatus.EXECUTING and r.ship_id == action.ship_id]
    busy = next((r for r in running if r.target_device == action.target_device), None)
    if busy is not None:
        raise Refused(409, f"{busy.action} is already running on {action.target_device} (action {busy.action_id})")
    if len(running) >= policy.max_concurrent_actions:
        raise Refused(
            409, f"{len(running)} action(s) already running on the ship (max_concurrent_actions "
            f"{policy.max_concurrent_actions})",
        )
    return action.model_copy(update={
        "status": ActionStatus.EXECUTING, "dry_run": policy.executor.mode == "dry_run",
        "updated_at": later(now, action.updated_at),
    })


def finish(action: RemediationAction, *, ok: bool, result: str, now: datetime) -> RemediationAction:
    return action.model_copy(update={
        "status": ActionStatus.SUCCEEDED if ok else ActionStatus.FAILED,
        "result": result[:16000],
        "updated_at": later(now, action.updated_at),
    })


def interrupted(action: RemediationAction, *, now: datetime) -> RemediationAction:
    """An action found executing when the role starts: the process that ran it is gone, so what
    it changed is unknown and a person has to look."""
    return finish(
        action, ok=False, now=now,
        result="interrupted: the node stopped while this action ran; its outcome is unknown, check the device",
    )


def last_run_of(runs: dict[tuple[str, str, str], datetime], action: RemediationAction | Proposal) -> datetime | None:
    return runs.get((action.ship_id, action.action, action.target_device))


# --- proposals from an insight ------------------------------------------------------------------

# clear_cache's `cache` by device kind: a resolver's cache is DNS, a server's is its application's.
CACHE_BY_KIND = {"dns_server": "dns", "server": "app", "app_server": "app"}


def auto_action_id(incident_id: str, action: str, target_device: str) -> str:
    """The same id for every insight of one incident: the platform proposes an action on a device
    once per incident, so a redelivered or updated insight never proposes it again."""
    return str(uuid.uuid5(_AUTO_NAMESPACE, f"{incident_id}:{action}:{target_device}"))


def derive_parameters(action: str, rule: ActionPolicy, incident: Incident, device: Device) -> tuple[dict[str, Any] | None, str]:
    """Parameters the platform can fill in on its own, or None with the reason it cannot."""
    derived: dict[str, Any] = {}
    for name, hint in rule.parameters.items():
        value: Any = None
        if name == "service":
            services = [s for s in incident.services if s and s != "unknown"]
            value = next((s for s in services if s in device.services), None)
            if value is None and len(device.services) == 1:
                value = device.services[0]
        elif name == "cache":
            value = CACHE_BY_KIND.get(device.kind)
        if value is not None:
            derived[name] = value
        elif hint.required:
            return None, f"{action} needs parameter {name}, which an operator has to choose"
    return derived, ""


def auto_proposals(
    *, runbook_ids: Iterable[str], incident: Incident, device: Device | None,
    runbooks: dict[str, tuple[str, ...]], policy: RemediatePolicy,
) -> tuple[list[Proposal], list[str]]:
    """The runbooks' actions that fit the incident's root device, and why the others were left out."""
    if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.SUPPRESSED):
        return [], [f"incident is {incident.status.value}"]
    if device is None:
        return [], [f"root device {incident.root_cause_device} is not in the device registry"]
    proposals: list[Proposal] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for runbook_id in runbook_ids:
        for action in runbooks.get(runbook_id, ()):
            if action in seen:
                continue
            seen.add(action)
            rule = policy.actions.get(action)  # type: ignore[call-overload]
            if rule is None:
                skipped.append(f"{action}: not allowlisted")
                continue
            if device.kind not in rule.device_kinds:
                skipped.append(f"{action}: not allowed on a {device.kind}")
                continue
            parameters, why = derive_parameters(action, rule, incident, device)
            if parameters is None:
                skipped.append(why)
                continue
            proposals.append(Proposal(
                ship_id=incident.ship_id, action=action, target_device=device.device_id,
                requested_by=AUTO_REQUESTER, incident_id=incident.incident_id, parameters=parameters,
                reason=f"proposed from runbook {runbook_id} for incident '{incident.title}'",
            ))
    return proposals, skipped


# --- presentation -------------------------------------------------------------------------------


def view(
    action: RemediationAction, *, approvals: list[Approval], last_run: datetime | None,
    policy: RemediatePolicy | None, now: datetime,
) -> dict[str, Any]:
    """The API's Action: the RemediationAction with its approvals and, from the policy, when the
    cooldown on its target ends, when it expires, and the checks around it."""
    body = action.model_dump(mode="json")
    body["approvals"] = [a.model_dump(mode="json") for a in approvals]
    rule = policy.actions.get(action.action) if policy else None  # type: ignore[call-overload]
    until = checks.cooldown_until(rule, last_run) if rule else None
    body["cooldown_until"] = _iso(until) if until and until > now else None
    deadline = expires_at(action, policy.approval_ttl_seconds) if policy else None
    body["expires_at"] = _iso(deadline) if deadline else None
    body["pre_checks"] = list(rule.pre_checks) if rule else []
    body["post_checks"] = list(rule.post_checks) if rule else []
    body["only_in_maintenance_window"] = rule.only_in_maintenance_window if rule else False
    return body


def _iso(at: datetime) -> str:
    """UTC as the models serialise it ("...Z"), so every time in one answer looks the same."""
    return at.isoformat().replace("+00:00", "Z")


def timeline_summary(action: RemediationAction, actor: str) -> str:
    """The incident timeline's line for a change of one of its actions."""
    head = f"{action.action} on {action.target_device} ({action.risk} risk): {action.status.value}"
    if action.status == ActionStatus.PENDING_APPROVAL:
        head += f", {len(action.approved_by)}/{action.approvals_required} approvals"
    head += f" by {actor}"
    if action.result and action.status not in (ActionStatus.PENDING_APPROVAL, ActionStatus.APPROVED):
        head += f": {action.result[:500]}"
    return head
