"""/api/v3/actions, /approvals, /policies and /audit. Every route needs a token; reads are for
viewers, proposing and executing for operators, deciding for approvers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from aiops_core import audit
from aiops_core.auth import Approver, Operator, Viewer
from aiops_core.models import ActionStatus, Identifier, TrackingId
from aiops_core.policy import PolicyError, policy_diff
from aiops_core.runtime import RuntimeDep
from aiops_core.store import clamp_time
from services.incident_api.queries import EPOCH
from services.remediation.app import SERVICE_KEY, Remediation
from services.remediation.checks import Refused

def get_remediation(request: Request) -> Remediation:
    service = request.app.state.runtime.services.get(SERVICE_KEY)
    if service is None:
        raise HTTPException(503, detail="remediation is starting", headers={"Retry-After": "2"})
    return service


RemediationDep = Annotated[Remediation, Depends(get_remediation)]


class ActionIn(BaseModel):
    """An action an operator proposes."""

    model_config = ConfigDict(extra="forbid")

    incident_id: TrackingId | None = None
    action: str = Field(min_length=1, max_length=64, description="An action of remediate.yaml's allowlist.")
    target_device: Identifier
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=32)
    reason: str = Field("", max_length=4000)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "rejected"]
    comment: str = Field("", max_length=4000)


def _action_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise HTTPException(422, detail=[{"loc": "path.action_id", "msg": "must be a UUID"}]) from exc


def _refusal(exc: Refused) -> HTTPException:
    return HTTPException(exc.status, detail=exc.reason)


def _actions_router() -> APIRouter:
    router = APIRouter(prefix="/api/v3", tags=["remediation"])

    @router.get("/actions", summary="Remediation actions, newest first")
    async def list_actions(
        _: Viewer,
        service: RemediationDep,
        incident_id: TrackingId | None = None,
        status: ActionStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        actions, total = await service.list(incident_id=incident_id, status=status, limit=limit, offset=offset)
        return {"items": await service.views(actions), "total": total}

    @router.post("/actions", status_code=201, summary="Propose an allowlisted action")
    async def propose_action(body: ActionIn, who: Operator, service: RemediationDep) -> dict[str, Any]:
        try:
            action = await service.propose(
                who, action=body.action, target_device=body.target_device, incident_id=body.incident_id,
                parameters=body.parameters, reason=body.reason,
            )
        except Refused as exc:
            raise _refusal(exc) from exc
        return (await service.views([action]))[0]

    @router.get("/actions/{action_id}", summary="One action with its approvals and cooldown")
    async def get_action(action_id: str, _: Viewer, service: RemediationDep) -> dict[str, Any]:
        action = await service.get(_action_id(action_id))
        if action is None:
            raise HTTPException(404, detail=f"no action {action_id}")
        return (await service.views([action]))[0]

    @router.post("/actions/{action_id}/execute", summary="Run an approved action through the configured executor")
    async def execute_action(action_id: str, who: Operator, service: RemediationDep) -> dict[str, Any]:
        try:
            action = await service.execute(who, _action_id(action_id))
        except Refused as exc:
            raise _refusal(exc) from exc
        return (await service.views([action]))[0]

    return router


def _approvals_router() -> APIRouter:
    router = APIRouter(prefix="/api/v3", tags=["remediation"])

    @router.get("/approvals", summary="Actions awaiting approval, or those I requested or decided on")
    async def list_approvals(
        who: Viewer, service: RemediationDep, scope: Literal["pending", "mine"] = "pending",
    ) -> dict[str, Any]:
        if scope == "pending":
            actions = await service.in_status([ActionStatus.PENDING_APPROVAL])
        else:
            actions = await service.mine(who.name)
        return {"items": await service.views(actions)}

    @router.post("/approvals/{action_id}", summary="Approve or reject a pending action")
    async def decide(action_id: str, body: DecisionIn, who: Approver, service: RemediationDep) -> dict[str, Any]:
        try:
            action = await service.decide(who, _action_id(action_id), decision=body.decision, comment=body.comment)
        except Refused as exc:
            raise _refusal(exc) from exc
        return (await service.views([action]))[0]

    return router


def _policies_router() -> APIRouter:
    router = APIRouter(prefix="/api/v3", tags=["policy"])

    @router.get("/policies", summary="A ship's effective policy and its difference from the defaults")
    async def get_policies(
        runtime: RuntimeDep, _: Viewer, service: RemediationDep,
        ship_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:
        ship_id = ship_id or runtime.settings.ship_id
        try:
            effective = service.policy_for(ship_id)
            default = service.default_policy()
        except PolicyError as exc:
            raise HTTPException(422, detail=exc.problems) from exc
        return {"ship_id": ship_id, "effective": effective.model_dump(mode="json"), "diff": policy_diff(default, effective)}

    return router


def _audit_router() -> APIRouter:
    router = APIRouter(prefix="/api/v3", tags=["audit"])

    @router.get("/audit", summary="Every mutation: who, what, when and the result (newest first)")
    async def get_audit(
        runtime: RuntimeDep,
        _: Viewer,
        actor: Annotated[str | None, Query(max_length=256)] = None,
        action: Annotated[str | None, Query(max_length=64, description="e.g. action.approve")] = None,
        target: Annotated[str | None, Query(max_length=256, description="e.g. action:<uuid>")] = None,
        since: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        events, total = await audit.search(
            runtime.store, actor=actor or "", action=action or "", target=target or "",
            since=clamp_time(since) if since else EPOCH, limit=limit, offset=offset,
        )
        return {"items": [e.model_dump(mode="json") for e in events], "total": total}

    return router


def routers() -> list[APIRouter]:
    return [_actions_router(), _approvals_router(), _policies_router(), _audit_router()]
