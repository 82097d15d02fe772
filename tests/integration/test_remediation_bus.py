"""Remediation's wiring on a real JetStream server and the real chDB store: proposals from an
insight (once, however often the insight comes), the approval and execution flow with every
state on `actions.<status>`, expiry, the audit trail, and recovery of an interrupted run."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import nats
import pytest

from aiops_core import audit
from aiops_core.auth import Identity
from aiops_core.bus import INCIDENTS_ENRICHED, Bus, decode, encode
from aiops_core.devices import DEVICE_COLUMNS, Device
from aiops_core.models import (
    ActionStatus,
    EnrichedIncident,
    Incident,
    IncidentType,
    Insight,
    RemediationAction,
    Severity,
    StageStamp,
    utc_now,
)
from aiops_core.policy import load_policy
from aiops_core.runtime import Runtime
from aiops_core.settings import Settings
from services.incident_api import handlers as incident_handlers
from services.remediation import queries
from services.remediation.app import Remediation
from services.remediation.checks import Refused
from tests.support import async_wait_until

pytestmark = pytest.mark.integration

POLICIES = Path(__file__).resolve().parents[2] / "policies"
OLGA, ANNA, BERT = Identity("olga", "operator"), Identity("anna", "approver"), Identity("bert", "approver")


class Clock:
    """A clock the test moves forward; each reading ticks a millisecond, as real time would."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


class Published:
    """Every actions.* message, in stream order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, RemediationAction]] = []

    async def handle(self, msg) -> None:
        self.items.append((msg.subject, decode(msg.subject, msg.data)))

    def of(self, action_id: str) -> list[tuple[str, list[str]]]:
        return [(s, a.approved_by) for s, a in self.items if a.action_id == action_id]


@pytest.fixture
async def client(nats_server):
    nc = await nats.connect(nats_server.url)
    await Bus(nc, "test").ensure_topology(max_deliver=5, ack_wait_seconds=30)
    yield nc
    await nc.close()


@pytest.fixture
async def published(client):
    collected = Published()
    sub = await client.jetstream().subscribe("actions.>", stream="ACTIONS", cb=collected.handle, ordered_consumer=True)
    yield collected
    await sub.unsubscribe()


@pytest.fixture
def ship() -> str:
    # chDB is shared by every test of the session: a ship of its own isolates this test's rows.
    return f"ship-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def remediation(nats_server, store, ship, client):
    await store.insert("devices", DEVICE_COLUMNS, [d.row() for d in (
        Device(ship, "app-01", kind="app_server", services=("pos-agent",)),
        Device(ship, "fw-01", kind="firewall"),
    )])
    bus = await Bus.connect(nats_server.url, role="incident-api", max_reconnect_attempts=2)
    runtime = Runtime(settings=Settings(ship_id=ship), policy=load_policy(POLICIES, ship), bus=bus, store=store)
    service = Remediation(runtime, clock=Clock())
    await service.start()
    yield service
    runtime.stop.set()
    await asyncio.wait(runtime.tasks, timeout=15)
    await bus.close()


async def store_incident(store, ship: str, device: str) -> Incident:
    now = utc_now()
    incident = Incident(
        incident_id=str(uuid.uuid4()), ship_id=ship, fingerprint=f"fp-{uuid.uuid4().hex}",
        incident_type=IncidentType.RESOURCE_PRESSURE, severity=Severity.HIGH, title="disk full on app-01",
        root_cause_device=device, anomaly_count=3, first_seen=now, last_seen=now, created_at=now, updated_at=now,
        version=1,
    )
    await store.insert("incidents", incident_handlers.INCIDENT_COLUMNS, [incident_handlers.incident_row(incident)])
    return incident


def insight_for(incident: Incident, version: int) -> EnrichedIncident:
    now = utc_now()
    return EnrichedIncident(
        incident_id=incident.incident_id, ship_id=incident.ship_id, incident_version=version,
        insight=Insight(
            root_cause="logs filled the disk", impact="app cannot write", recommendations=["rotate logs"],
            confidence=0.7, source="fallback", runbook_ids=["rb-disk-full-server"], generated_at=now, latency_ms=5,
        ),
        trace=[StageStamp(stage="incident", service="correlation", at=now, duration_ms=0)],
    )


async def stored_actions(store, incident_id: str) -> list[RemediationAction]:
    rows = await store.query(queries.LIST_ACTIONS, {"incident_id": incident_id, "status": "", "limit": 100, "offset": 0})
    return [queries.action_from(r) for r in rows]


async def test_an_insight_proposes_its_runbooks_actions_once(remediation, store, client, published, ship):
    """rb-disk-full-server on an app server proposes rotate_logs and clear_cache (both auto-approved
    low risk) as "aiops"; a second insight and a redelivery propose nothing more."""
    incident = await store_incident(store, ship, "app-01")
    js = client.jetstream()
    await js.publish(INCIDENTS_ENRICHED, encode(insight_for(incident, 1)), headers={"Nats-Msg-Id": f"{incident.incident_id}:1"})
    actions = await async_wait_until(lambda: _at_least(stored_actions(store, incident.incident_id), 2))
    await js.publish(INCIDENTS_ENRICHED, encode(insight_for(incident, 2)), headers={"Nats-Msg-Id": f"{incident.incident_id}:2"})
    await async_wait_until(lambda: _consumed(client))

    actions = await stored_actions(store, incident.incident_id)
    assert sorted((a.action, a.status, a.requested_by) for a in actions) == [
        ("clear_cache", ActionStatus.APPROVED, "aiops"), ("rotate_logs", ActionStatus.APPROVED, "aiops"),
    ]
    assert {a.action: a.parameters for a in actions}["clear_cache"] == {"cache": "app"}
    await async_wait_until(lambda: _ready(len(published.items) >= 2))
    assert sorted(a.action for s, a in published.items if s == "actions.approved") == ["clear_cache", "rotate_logs"]
    assert len(published.items) == 2
    entries, total = await audit.search(store, actor="aiops", action="action.propose",
                                        target=f"action:{actions[0].action_id}", since=remediation.clock.now, limit=10, offset=0)
    assert total == 1 and entries[0].role == "system" and entries[0].result == "ok"
    timeline = await store.query("SELECT summary FROM aiops.incident_events WHERE incident_id = {i:UUID} AND kind = 'action'",
                                 {"i": incident.incident_id})
    assert len(timeline) == 2 and all("by aiops" in r["summary"] for r in timeline)


async def test_two_approvers_then_a_dry_run_with_every_state_published_and_audited(remediation, store, published, ship):
    """failover_path: pending (0/2, then 1/2), approved, executing, succeeded on actions.*; the
    requester cannot approve; each attempt is in the audit with its result; a repeat is in cooldown."""
    action = await remediation.propose(OLGA, action="failover_path", target_device="fw-01", parameters={"target": "starlink"})
    with pytest.raises(Refused) as own:
        await remediation.decide(OLGA, action.action_id, decision="approved", comment="")
    assert own.value.status == 403
    await remediation.decide(ANNA, action.action_id, decision="approved", comment="looks right")
    with pytest.raises(Refused):
        await remediation.decide(ANNA, action.action_id, decision="approved", comment="again")
    await remediation.decide(BERT, action.action_id, decision="approved", comment="")
    done = await remediation.execute(OLGA, action.action_id)
    assert done.status == ActionStatus.SUCCEEDED and done.dry_run and "nothing was changed" in (done.result or "")

    await async_wait_until(lambda: _ready(len(published.of(action.action_id)) == 5))
    assert published.of(action.action_id) == [
        ("actions.pending_approval", []), ("actions.pending_approval", ["anna"]),
        ("actions.approved", ["anna", "bert"]), ("actions.executing", ["anna", "bert"]),
        ("actions.succeeded", ["anna", "bert"]),
    ]
    entries, _ = await audit.search(store, target=f"action:{action.action_id}", since=action.created_at, limit=20, offset=0)
    assert [(e.actor, e.action, e.result) for e in reversed(entries)] == [
        ("olga", "action.propose", "ok"), ("olga", "action.approve", "forbidden"), ("anna", "action.approve", "ok"),
        ("anna", "action.approve", "conflict"), ("bert", "action.approve", "ok"), ("olga", "action.execute", "started"),
        ("olga", "action.execute", "succeeded"),
    ]
    with pytest.raises(Refused) as repeat:
        await remediation.propose(OLGA, action="failover_path", target_device="fw-01", parameters={"target": "vsat"})
    assert repeat.value.status == 409 and "cooldown" in repeat.value.reason
    view = (await remediation.views([done]))[0]
    assert view["cooldown_until"] is not None and [a["approver"] for a in view["approvals"]] == ["anna", "bert"]


async def test_a_stale_proposal_expires_and_is_published_rejected(remediation, store, published):
    """After approval_ttl_seconds the sweep rejects the proposal as expired, and deciding is a 409."""
    action = await remediation.propose(OLGA, action="restart_service", target_device="app-01", parameters={"service": "pos-agent"})
    ttl = remediation.runtime.policy.remediate.approval_ttl_seconds
    remediation.clock.now = action.created_at + timedelta(seconds=ttl - 2)
    assert action.action_id not in [a.action_id for a in await remediation.expire_due()]
    remediation.clock.now = action.created_at + timedelta(seconds=ttl)
    assert action.action_id in [a.action_id for a in await remediation.expire_due()]
    stored = await remediation.get(action.action_id)
    assert stored.status == ActionStatus.REJECTED and stored.result.startswith("expired")
    with pytest.raises(Refused) as late:
        await remediation.decide(ANNA, action.action_id, decision="approved", comment="")
    assert late.value.status == 409
    await async_wait_until(lambda: _ready(("actions.rejected", []) in published.of(action.action_id)))


async def test_an_action_left_executing_is_failed_when_remediation_starts(remediation, store, ship):
    """A run the previous process never finished is marked failed with an unknown outcome."""
    action = await remediation.propose(OLGA, action="rotate_logs", target_device="app-01")
    stuck = action.model_copy(update={"status": ActionStatus.EXECUTING, "updated_at": action.updated_at + timedelta(seconds=1)})
    await store.insert("actions", queries.ACTION_COLUMNS, [queries.action_row(stuck)])
    restarted = Remediation(remediation.runtime, clock=remediation.clock)
    await restarted.fail_interrupted()
    stored = await restarted.get(action.action_id)
    assert stored.status == ActionStatus.FAILED and stored.result.startswith("interrupted")


async def _at_least(rows, n: int):
    found = await rows
    return found if len(found) >= n else None


async def _ready(value: bool) -> bool:
    return value


async def _consumed(client) -> bool:
    info = await client.jetstream().consumer_info("INCIDENTS", "incident-api-remediation")
    return info.num_pending == 0 and info.num_ack_pending == 0
