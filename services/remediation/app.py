"""Remediation wiring, part of the incident-api role: the store, the bus, the audit trail and the
executors around the pure logic in `handlers`.

- consumes `incidents.enriched` (durable `incident-api-remediation`): an insight that cites
  runbooks proposes their actions for the incident's root device;
- serves the mutations behind /api/v3/actions and /api/v3/approvals;
- expires stale proposals and approvals in the background;
- publishes every state change on `actions.<status>` and audits it.

The incident-api is the only writer of actions (one process), so one asyncio lock around each
read-check-write keeps two approvers or a proposal and an insight from racing each other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Literal

from aiops_core import audit, metrics
from aiops_core.audit import SYSTEM
from aiops_core.auth import Identity
from aiops_core.bus import ACTIONS_PREFIX, Incoming, Outgoing, Rejected, msg_id, per_message
from aiops_core.devices import LOAD_DEVICES_SQL, Device, DeviceRegistry, device_from_row
from aiops_core.logging import StructuredLogger
from aiops_core.models import (
    ActionStatus,
    Approval,
    EnrichedIncident,
    Incident,
    RemediationAction,
    TimelineEvent,
    utc_now,
)
from aiops_core.policy import Policy, PolicyError, load_policy
from aiops_core.runtime import Runtime
from services.incident_api.handlers import EVENT_COLUMNS, event_row
from services.incident_api.recent import RecentIncidents, load_incident
from services.remediation import handlers, queries
from services.remediation.checks import Refused
from services.remediation.executors import Outcome, executor_for
from services.remediation.runbooks import load_runbook_actions

log = StructuredLogger.get_logger(__name__, service="remediation")

DURABLE = "incident-api-remediation"
SERVICE_KEY = "remediation"
EXPIRY_SWEEP_SECONDS = 15.0
LIST_LIMIT = 500


def actions_subject(action: RemediationAction) -> str:
    return f"{ACTIONS_PREFIX}.{action.status.value}"


def outgoing(action: RemediationAction) -> Outgoing:
    """The state change as a bus message. The id names the state, so re-publishing it (a retry,
    a redelivered insight) is deduplicated, and each approval of a two-person action is its own."""
    return Outgoing(actions_subject(action), action, msg_id(action.action_id, action.status.value, len(action.approved_by)))


class Remediation:
    def __init__(self, runtime: Runtime, *, clock: Callable[[], datetime] = utc_now,
                 recent: RecentIncidents | None = None) -> None:
        self.runtime = runtime
        self.store = runtime.store
        # The incident-api's incidents not yet written (served from memory): an insight can
        # come before its incident's row.
        self.recent = recent or RecentIncidents()
        self.clock = clock
        self.lock = asyncio.Lock()
        self.registry = DeviceRegistry()
        self.runbooks: dict[str, tuple[str, ...]] = {}
        self._ship_policies: dict[str, Policy] = {}
        self._default_policy: Policy | None = None

    async def start(self, *, consume: bool = True, sweep_every_seconds: float = EXPIRY_SWEEP_SECONDS) -> None:
        await self.reload_devices()
        self.runbooks = load_runbook_actions(self.runtime.settings.knowledge_dir / "runbooks")
        await self.fail_interrupted()
        self.runtime.services[SERVICE_KEY] = self
        if consume:
            self.runtime.consume(DURABLE, per_message(self.on_enriched), batch=20)
        self.runtime.spawn(self._expire_forever(sweep_every_seconds), "remediation:expiry")
        log.info("remediation_started", runbooks=len(self.runbooks), devices=len(self.registry.devices),
                 executor=self.runtime.policy.remediate.executor.mode)

    # --- policy and devices ----------------------------------------------------------------------

    def policy_for(self, ship_id: str) -> Policy:
        """The ship's effective policy: the node's own is the one it runs with; another ship's
        (a shore hub sees several) is loaded once. Raises PolicyError for a broken ship file."""
        if ship_id == self.runtime.settings.ship_id:
            return self.runtime.policy
        if ship_id not in self._ship_policies:
            self._ship_policies[ship_id] = load_policy(self.runtime.settings.policies_dir, ship_id)
        return self._ship_policies[ship_id]

    def default_policy(self) -> Policy:
        if self._default_policy is None:
            self._default_policy = load_policy(self.runtime.settings.policies_dir)
        return self._default_policy

    async def reload_devices(self) -> None:
        rows = await self.store.query(LOAD_DEVICES_SQL)
        self.registry = DeviceRegistry.of([device_from_row(r) for r in rows])

    async def device(self, ship_id: str, device_id: str) -> Device | None:
        device = self.registry.get(ship_id, device_id)
        if device is None:
            # Devices are added to the registry while the node runs; look once more before refusing.
            await self.reload_devices()
            device = self.registry.get(ship_id, device_id)
        return device

    # --- reads -----------------------------------------------------------------------------------

    async def get(self, action_id: str) -> RemediationAction | None:
        rows = await self.store.query(queries.GET_ACTIONS, {"ids": [action_id]})
        return queries.action_from(rows[0]) if rows else None

    async def list(self, *, incident_id: str | None, status: ActionStatus | None, limit: int, offset: int) -> tuple[list[RemediationAction], int]:
        params = {"incident_id": incident_id or "", "status": status.value if status else ""}
        rows = await self.store.query(queries.LIST_ACTIONS, {**params, "limit": limit, "offset": offset})
        total = await self.store.scalar(queries.COUNT_ACTIONS, params)
        return [queries.action_from(r) for r in rows], int(total or 0)

    async def in_status(self, statuses: Iterable[ActionStatus], ship_id: str = "") -> list[RemediationAction]:
        rows = await self.store.query(
            queries.ACTIONS_IN_STATUS, {"statuses": [s.value for s in statuses], "ship_id": ship_id}
        )
        return [queries.action_from(r) for r in rows]

    async def mine(self, name: str) -> list[RemediationAction]:
        rows = await self.store.query(queries.MINE, {"name": name, "limit": LIST_LIMIT})
        return [queries.action_from(r) for r in rows]

    async def approvals_of(self, action_ids: list[str]) -> dict[str, list[Approval]]:
        found: dict[str, list[Approval]] = {}
        if action_ids:
            for row in await self.store.query(queries.APPROVALS_OF, {"ids": action_ids}):
                approval = queries.approval_from(row)
                found.setdefault(approval.action_id, []).append(approval)
        return found

    async def last_runs(self, ship_ids: Iterable[str]) -> dict[tuple[str, str, str], datetime]:
        ships = sorted(set(ship_ids))
        if not ships:
            return {}
        rows = await self.store.query(queries.LAST_RUNS, {"ship_ids": ships})
        return {(r["ship_id"], r["action"], r["target_device"]): r["last_run"] for r in rows}

    async def incident(self, incident_id: str) -> Incident | None:
        return await load_incident(self.store, self.recent, incident_id)

    async def views(self, actions: list[RemediationAction]) -> list[dict[str, Any]]:
        """Actions as the API shows them: with their approvals and cooldown."""
        approvals = await self.approvals_of([a.action_id for a in actions])
        runs = await self.last_runs(a.ship_id for a in actions)
        now = self.clock()
        out = []
        for action in actions:
            try:
                policy = self.policy_for(action.ship_id).remediate
            except PolicyError:
                policy = None
            out.append(handlers.view(
                action, approvals=approvals.get(action.action_id, []), last_run=handlers.last_run_of(runs, action),
                policy=policy, now=now,
            ))
        return out

    # --- mutations -------------------------------------------------------------------------------

    async def propose(
        self, who: Identity, *, action: str, target_device: str, incident_id: str | None = None,
        parameters: dict[str, Any] | None = None, reason: str = "",
    ) -> RemediationAction:
        async with self.lock:
            ship_id = self.runtime.settings.ship_id
            try:
                if incident_id is not None:
                    incident = await self.incident(incident_id)
                    if incident is None:
                        raise Refused(422, f"no incident {incident_id}")
                    ship_id = incident.ship_id
                proposal = handlers.Proposal(
                    ship_id=ship_id, action=action, target_device=target_device, requested_by=who.name,
                    incident_id=incident_id, parameters=parameters or {}, reason=reason,
                )
                created = await self._propose(proposal)
            except Refused as exc:
                await audit.record(self.store, who, "action.propose", f"device:{target_device}", exc.result, {
                    "reason": exc.reason, "action": action, "incident_id": incident_id, "parameters": parameters or {},
                }, at=self.clock())
                raise
            await self._save(created, who, "action.propose", "ok", {
                "action": created.action, "target_device": created.target_device, "status": created.status.value,
                "risk": created.risk, "parameters": created.parameters, "incident_id": created.incident_id,
            })
            return created

    async def _propose(self, proposal: handlers.Proposal, action_id: str | None = None) -> RemediationAction:
        try:
            policy = self.policy_for(proposal.ship_id).remediate
        except PolicyError as exc:
            raise Refused(422, f"the policy of ship {proposal.ship_id} is invalid: {exc}") from exc
        device = await self.device(proposal.ship_id, proposal.target_device)
        open_actions = await self.in_status(handlers.OPEN_STATUSES, proposal.ship_id)
        runs = await self.last_runs([proposal.ship_id])
        return handlers.propose(
            proposal, policy=policy, device=device, open_actions=open_actions,
            last_run=handlers.last_run_of(runs, proposal), now=self.clock(), action_id=action_id,
        )

    async def decide(
        self, who: Identity, action_id: str, *, decision: Literal["approved", "rejected"], comment: str,
    ) -> RemediationAction:
        verb = "action.approve" if decision == "approved" else "action.reject"
        async with self.lock:
            try:
                action = await self._current(action_id)
                prior = (await self.approvals_of([action_id])).get(action_id, [])
                changed, approval = handlers.decide(
                    action, approver=who.name, decision=decision, comment=comment, prior=prior, now=self.clock(),
                )
            except Refused as exc:
                await audit.record(self.store, who, verb, f"action:{action_id}", exc.result,
                                   {"reason": exc.reason, "comment": comment}, at=self.clock())
                raise
            await self._save(changed, who, verb, "ok", {
                "comment": comment, "status": changed.status.value,
                "approvals": f"{len(changed.approved_by)}/{changed.approvals_required}",
            }, approval=approval)
            return changed

    async def execute(self, who: Identity, action_id: str) -> RemediationAction:
        """Checks and marks the action executing under the lock, runs the executor outside it
        (a playbook may take minutes), then records the outcome."""
        async with self.lock:
            try:
                action = await self._current(action_id)
                policy = self.policy_for(action.ship_id).remediate
                running = await self.in_status([ActionStatus.EXECUTING], action.ship_id)
                runs = await self.last_runs([action.ship_id])
                started = handlers.start_execution(
                    action, policy=policy, running=running, last_run=handlers.last_run_of(runs, action), now=self.clock(),
                )
            except Refused as exc:
                await audit.record(self.store, who, "action.execute", f"action:{action_id}", exc.result,
                                   {"reason": exc.reason}, at=self.clock())
                raise
            await self._save(started, who, "action.execute", "started", {"executor": policy.executor.mode})
        rule = policy.actions[started.action]  # type: ignore[index]
        device = self.registry.get(started.ship_id, started.target_device)
        try:
            outcome = await executor_for(policy.executor).run(started, rule, device)
        except Exception as exc:  # noqa: BLE001 - an executor bug is a failed run, recorded as such
            log.error("executor_crashed", action_id=action_id, error=repr(exc), exc_info=exc)
            outcome = Outcome(False, f"the {policy.executor.mode} executor failed: {exc!r}")
        async with self.lock:
            done = handlers.finish(started, ok=outcome.ok, result=outcome.text, now=self.clock())
            await self._save(done, who, "action.execute", done.status.value, {
                "executor": policy.executor.mode, "dry_run": done.dry_run, "result": outcome.text[:2000],
            })
        return done

    async def _current(self, action_id: str) -> RemediationAction:
        """The stored action, expired first if its time is up (the sweeper may not have run yet)."""
        action = await self.get(action_id)
        if action is None:
            raise Refused(404, f"no action {action_id}")
        try:
            ttl = self.policy_for(action.ship_id).remediate.approval_ttl_seconds
        except PolicyError as exc:
            raise Refused(409, f"the policy of ship {action.ship_id} is invalid: {exc}") from exc
        expired = handlers.expire(action, ttl_seconds=ttl, now=self.clock())
        if expired is not None:
            await self._save(expired, SYSTEM, "action.expire", "ok", {"result": expired.result})
            raise Refused(409, f"action {expired.result}")
        return action

    async def expire_due(self) -> list[RemediationAction]:
        """Turns every stale proposal or approval into rejected."""
        expired = []
        async with self.lock:
            now = self.clock()
            for action in await self.in_status([ActionStatus.PENDING_APPROVAL, ActionStatus.APPROVED]):
                try:
                    ttl = self.policy_for(action.ship_id).remediate.approval_ttl_seconds
                except PolicyError as exc:
                    log.error("policy_invalid", ship_id=action.ship_id, error=str(exc)[:500])
                    continue
                changed = handlers.expire(action, ttl_seconds=ttl, now=now)
                if changed is not None:
                    await self._save(changed, SYSTEM, "action.expire", "ok", {"result": changed.result})
                    expired.append(changed)
        return expired

    async def fail_interrupted(self) -> None:
        """Actions left executing by a previous process are marked failed (outcome unknown)."""
        async with self.lock:
            for action in await self.in_status([ActionStatus.EXECUTING]):
                changed = handlers.interrupted(action, now=self.clock())
                await self._save(changed, SYSTEM, "action.interrupt", "failed", {"result": changed.result})
                log.warning("action_interrupted", action_id=action.action_id, action=action.action)

    async def _expire_forever(self, every_seconds: float) -> None:
        stop = self.runtime.stop
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_seconds)
            except asyncio.TimeoutError:
                try:
                    for action in await self.expire_due():
                        log.info("action_expired", action_id=action.action_id, action=action.action)
                except Exception as exc:  # noqa: BLE001 - the store may be back on the next round
                    log.warning("expiry_sweep_failed", error=repr(exc))

    # --- proposals from insights -----------------------------------------------------------------

    async def on_enriched(self, item: Incoming) -> list[Outgoing]:
        """Proposes the cited runbooks' actions; the same incident never proposes an action on a
        device twice (the action id derives from both), so a redelivery changes nothing."""
        enriched = item.message
        if not isinstance(enriched, EnrichedIncident) or not enriched.insight.runbook_ids:
            return []
        started = utc_now()
        incident = await self.incident(enriched.incident_id)
        if incident is None:
            # The insight overtook its incident's row; the bus redelivers with backoff.
            raise LookupError(f"incident {enriched.incident_id} is not stored yet")
        try:
            policy = self.policy_for(incident.ship_id).remediate
        except PolicyError as exc:
            raise Rejected(f"the policy of ship {incident.ship_id} is invalid: {exc}") from exc
        device = await self.device(incident.ship_id, incident.root_cause_device)
        proposals, skipped = handlers.auto_proposals(
            runbook_ids=enriched.insight.runbook_ids, incident=incident, device=device,
            runbooks=self.runbooks, policy=policy,
        )
        outs: list[Outgoing] = []
        proposed: list[str] = []
        async with self.lock:
            for proposal in proposals:
                action_id = handlers.auto_action_id(incident.incident_id, proposal.action, proposal.target_device)
                existing = await self.get(action_id)
                if existing is not None:
                    if existing.updated_at == existing.created_at:
                        outs.append(outgoing(existing))  # stored, maybe never published: again, deduplicated
                    continue
                try:
                    action = await self._propose(proposal, action_id=action_id)
                except Refused as exc:
                    skipped.append(f"{proposal.action}: {exc.reason}")
                    continue
                await self._save(action, SYSTEM, "action.propose", "ok", {
                    "action": action.action, "target_device": action.target_device, "status": action.status.value,
                    "risk": action.risk, "parameters": action.parameters, "incident_id": action.incident_id,
                    "runbook_ids": enriched.insight.runbook_ids,
                }, publish=False)
                outs.append(outgoing(action))
                proposed.append(action.action)
        log.info("remediation_proposals", incident_id=incident.incident_id, proposed=proposed, skipped=skipped)
        metrics.STAGE_LATENCY.labels(handlers.STAGE).observe((utc_now() - started).total_seconds())
        return outs

    # --- persistence -----------------------------------------------------------------------------

    async def _save(
        self, action: RemediationAction, who: Identity, verb: str, result: str, details: dict[str, Any],
        *, approval: Approval | None = None, publish: bool = True,
    ) -> None:
        """Writes the new state, its approval, the incident's timeline entry and the audit entry,
        then publishes it."""
        await self.store.insert("actions", queries.ACTION_COLUMNS, [queries.action_row(action)])
        if approval is not None:
            await self.store.insert("approvals", queries.APPROVAL_COLUMNS, [queries.approval_row(approval)])
        if action.incident_id:
            await self.store.insert("incident_events", EVENT_COLUMNS, [event_row(action.incident_id, TimelineEvent(
                at=action.updated_at, kind="action", actor=who.name, device_id=action.target_device,
                summary=handlers.timeline_summary(action, who.name),
            ))])
        await audit.record(self.store, who, verb, f"action:{action.action_id}", result, details, at=action.updated_at)
        if publish:
            await self._publish(outgoing(action))

    async def _publish(self, out: Outgoing) -> None:
        """The store holds the truth; the bus message follows. If NATS is away, the message is
        retried in the background (same id, so never twice) rather than failing the request."""
        try:
            await self.runtime.bus.publish(out)
        except Exception as exc:  # noqa: BLE001 - retried below
            log.warning("action_publish_deferred", msg_id=out.msg_id, error=repr(exc))
            self.runtime.spawn(self._publish_until_done(out), f"remediation:publish:{out.msg_id}")

    async def _publish_until_done(self, out: Outgoing) -> None:
        delay = 0.5
        while not self.runtime.stop.is_set():
            try:
                await self.runtime.bus.publish(out)
                return
            except Exception as exc:  # noqa: BLE001 - NATS still away
                log.warning("action_publish_retry", msg_id=out.msg_id, error=repr(exc))
                try:
                    await asyncio.wait_for(self.runtime.stop.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    delay = min(delay * 2, 10.0)


async def start_remediation(runtime: Runtime, recent: RecentIncidents) -> Remediation:
    """Started by the incident-api role: remediation shares its process, store lock, API and
    the incidents it holds in memory."""
    remediation = Remediation(runtime, recent=recent)
    await remediation.start()
    return remediation
