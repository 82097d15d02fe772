"""Through a real `aiops up`: every mutating route refuses a missing token and a wrong role (the
routes are read from the OpenAPI document, so a new unguarded one fails here), the remediation
flow with the two-person rule and a dry run, cooldowns, maintenance windows, the policy API, and
an audit entry for each mutation."""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime

import httpx
import pytest
import yaml

from tests.support import ROOT, start_node, stop_node

pytestmark = pytest.mark.e2e

SHIP = "ops-e2e"
MUTATING = ("post", "put", "patch", "delete")
LADDER = ("viewer", "operator", "approver", "admin")
# The least role each known mutating route needs. A route missing here still gets the checks
# every mutating route must pass (401 without a token, 403 for a viewer and for ingest).
MIN_ROLE = {
    ("post", "/api/v3/incidents"): "operator",
    ("patch", "/api/v3/incidents/{incident_id}"): "operator",
    ("post", "/api/v3/tokens"): "admin",
    ("post", "/api/v3/actions"): "operator",
    ("post", "/api/v3/actions/{action_id}/execute"): "operator",
    ("post", "/api/v3/approvals/{action_id}"): "approver",
    ("post", "/api/v3/logs"): "ingest",
    ("post", "/api/v3/logs/syslog"): "ingest",
    ("post", "/api/v3/metrics"): "ingest",
}
INVENTORY = {
    "ship_id": SHIP,
    "devices": [
        {"device_id": "fw-01", "kind": "firewall"},
        {"device_id": "app-01", "kind": "app_server", "services": ["pos-agent"]},
        {"device_id": "dns-01", "kind": "dns_server", "services": ["unbound"]},
        {"device_id": "sw-01", "kind": "access_switch"},
    ],
}
# The ship's only maintenance window is long past, so a reboot is always outside one.
SHIP_POLICY = {"remediate": {"maintenance_windows": [
    {"name": "dry-dock-2000", "start": "2000-01-01T00:00:00Z", "end": "2000-01-02T00:00:00Z"},
]}}


@pytest.fixture(scope="module")
def ops_node(tmp_path_factory):
    base = tmp_path_factory.mktemp("ops")
    policies = base / "policies"
    shutil.copytree(ROOT / "policies", policies)
    (policies / "ships" / f"{SHIP}.yaml").write_text(yaml.safe_dump(SHIP_POLICY))
    (base / "inventory.yaml").write_text(yaml.safe_dump(INVENTORY))
    running = start_node(base / "node", extra_env={
        "SHIP_ID": SHIP, "POLICIES_DIR": str(policies), "INVENTORY_FILE": str(base / "inventory.yaml"),
    })
    yield running
    stop_node(running)


@pytest.fixture(scope="module")
def admin(ops_node):
    with ops_node.client() as client:
        yield client


@pytest.fixture(scope="module")
def tokens(admin) -> dict[str, str]:
    """One token per role, created through POST /tokens; named after the person holding it."""
    made = {}
    for name, role in (("olga", "operator"), ("anna", "approver"), ("bert", "approver"), ("vic", "viewer"),
                       ("shipper", "ingest")):
        response = admin.post("/api/v3/tokens", json={"role": role, "name": name})
        assert response.status_code == 201, response.text
        made[name] = response.json()["token"]
    made["viewer"], made["operator"], made["approver"], made["ingest"] = (
        made["vic"], made["olga"], made["anna"], made["shipper"])
    return made


def as_(ops_node, tokens, name: str) -> httpx.Client:
    return httpx.Client(base_url=ops_node.url, headers={"authorization": f"Bearer {tokens[name]}"}, timeout=30.0)


@pytest.fixture(scope="module")
def people(ops_node, tokens):
    clients = {name: as_(ops_node, tokens, name) for name in ("olga", "anna", "bert", "vic")}
    yield clients
    for client in clients.values():
        client.close()


def audit(client: httpx.Client, **params) -> list[dict]:
    response = client.get("/api/v3/audit", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def mutating_routes(ops_node) -> list[tuple[str, str]]:
    spec = httpx.get(f"{ops_node.url}/openapi.json").json()
    return sorted((method, path) for path, ops in spec["paths"].items() for method in ops if method in MUTATING)


def concrete(path: str) -> str:
    return path.replace("{incident_id}", str(uuid.uuid4())).replace("{action_id}", str(uuid.uuid4()))


def test_every_mutating_route_refuses_a_missing_token_and_a_wrong_role(ops_node, tokens):
    """Each POST/PUT/PATCH/DELETE in the OpenAPI document answers 401 without a token and 403 to
    every role below the one it needs (and to ingest, unless it is an ingest route)."""
    routes = mutating_routes(ops_node)
    assert set(MIN_ROLE) <= set(routes), "a known mutating route vanished from the API"
    for method, path in routes:
        url = f"{ops_node.url}{concrete(path)}"
        anonymous = httpx.request(method, url, json={})
        assert anonymous.status_code == 401, f"{method.upper()} {path} without a token: {anonymous.status_code}"
        needed = MIN_ROLE.get((method, path), "operator")
        if needed == "ingest":
            wrong = [r for r in LADDER if r != "admin"]
        else:
            wrong = ["ingest", *LADDER[: LADDER.index(needed)]]
        assert "viewer" in wrong
        for role in wrong:
            response = httpx.request(method, url, json={}, headers={"authorization": f"Bearer {tokens[role]}"})
            assert response.status_code == 403, f"{method.upper()} {path} as {role}: {response.status_code} {response.text}"
        bad = httpx.request(method, url, json={}, headers={"authorization": "Bearer aiops_not-a-token"})
        assert bad.status_code == 401


def test_every_api_read_needs_a_token(ops_node):
    """Every GET under /api/v3 answers 401 without a token."""
    spec = httpx.get(f"{ops_node.url}/openapi.json").json()
    reads = [p for p, ops in spec["paths"].items() if "get" in ops and p.startswith("/api/v3/")]
    assert {"/api/v3/actions", "/api/v3/approvals", "/api/v3/policies", "/api/v3/audit"} <= set(reads)
    for path in reads:
        assert httpx.get(f"{ops_node.url}{concrete(path)}").status_code == 401, path


def test_high_risk_action_two_approvers_dry_run_audit_and_cooldown(people):
    """failover_path: proposed by olga, approved by anna and bert (anna twice is a 409, olga is
    not an approver), executed as a dry run; the audit shows each step with who, what, when and the
    result; a repeat within the cooldown is a 409."""
    olga, anna, bert, vic = people["olga"], people["anna"], people["bert"], people["vic"]
    proposed = olga.post("/api/v3/actions", json={
        "action": "failover_path", "target_device": "fw-01", "parameters": {"target": "starlink"},
        "reason": "VSAT rain fade, SNR 4 dB",
    })
    assert proposed.status_code == 201, proposed.text
    action = proposed.json()
    action_id = action["action_id"]
    assert (action["status"], action["risk"], action["approvals_required"], action["requested_by"]) == (
        "pending_approval", "high", 2, "olga")
    assert action["approvals"] == [] and action["cooldown_until"] is None and action["dry_run"] is True
    assert action_id in [a["action_id"] for a in vic.get("/api/v3/approvals", params={"scope": "pending"}).json()["items"]]

    first = anna.post(f"/api/v3/approvals/{action_id}", json={"decision": "approved", "comment": "starlink is clear"})
    assert first.status_code == 200 and first.json()["status"] == "pending_approval"
    assert [a["approver"] for a in first.json()["approvals"]] == ["anna"]
    assert anna.post(f"/api/v3/approvals/{action_id}", json={"decision": "approved"}).status_code == 409
    assert olga.post(f"/api/v3/approvals/{action_id}", json={"decision": "approved"}).status_code == 403
    assert olga.post(f"/api/v3/actions/{action_id}/execute").status_code == 409
    second = bert.post(f"/api/v3/approvals/{action_id}", json={"decision": "approved"})
    assert second.status_code == 200 and second.json()["status"] == "approved"
    assert second.json()["approved_by"] == ["anna", "bert"]
    assert action_id in [a["action_id"] for a in anna.get("/api/v3/approvals", params={"scope": "mine"}).json()["items"]]

    executed = olga.post(f"/api/v3/actions/{action_id}/execute")
    assert executed.status_code == 200, executed.text
    done = executed.json()
    assert done["status"] == "succeeded" and done["dry_run"] is True
    assert "dry run, nothing was changed" in done["result"] and "target=starlink" in done["result"]
    assert done["cooldown_until"] is not None
    assert vic.get(f"/api/v3/actions/{action_id}").json()["status"] == "succeeded"
    listed = vic.get("/api/v3/actions", params={"status": "succeeded"}).json()
    assert action_id in [a["action_id"] for a in listed["items"]] and listed["total"] >= 1

    trail = list(reversed(audit(vic, target=f"action:{action_id}")))
    assert [(e["actor"], e["role"], e["action"], e["result"]) for e in trail] == [
        ("olga", "operator", "action.propose", "ok"),
        ("anna", "approver", "action.approve", "ok"),
        ("anna", "approver", "action.approve", "conflict"),
        ("olga", "operator", "action.execute", "conflict"),
        ("bert", "approver", "action.approve", "ok"),
        ("olga", "operator", "action.execute", "started"),
        ("olga", "operator", "action.execute", "succeeded"),
    ]
    times = [datetime.fromisoformat(e["at"]) for e in trail]
    assert times == sorted(times) and trail[-1]["details"]["dry_run"] is True

    repeat = olga.post("/api/v3/actions", json={
        "action": "failover_path", "target_device": "fw-01", "parameters": {"target": "vsat"}})
    assert repeat.status_code == 409 and "cooldown" in repeat.json()["detail"]
    assert audit(vic, actor="olga", target="device:fw-01")[0]["result"] == "conflict"


def test_the_requester_can_never_approve_their_own_action(people):
    """An approver who proposed an action gets a 403 deciding on it; another approver may."""
    anna, bert = people["anna"], people["bert"]
    action = anna.post("/api/v3/actions", json={
        "action": "restart_service", "target_device": "app-01", "parameters": {"service": "pos-agent"}}).json()
    own = anna.post(f"/api/v3/approvals/{action['action_id']}", json={"decision": "approved"})
    assert own.status_code == 403 and "two-person rule" in own.json()["detail"]
    other = bert.post(f"/api/v3/approvals/{action['action_id']}", json={"decision": "rejected", "comment": "not now"})
    assert other.status_code == 200 and other.json()["status"] == "rejected"
    assert other.json()["result"] == "rejected by bert: not now"


def test_low_risk_action_is_auto_approved_and_runs(people):
    """clear_cache is approved on proposal (no approver needed) and an operator can run it at once."""
    olga = people["olga"]
    action = olga.post("/api/v3/actions", json={
        "action": "clear_cache", "target_device": "dns-01", "parameters": {"cache": "dns"}}).json()
    assert action["status"] == "approved" and action["approvals_required"] == 0 and action["approved_by"] == []
    done = olga.post(f"/api/v3/actions/{action['action_id']}/execute").json()
    assert done["status"] == "succeeded"


def test_invalid_and_conflicting_proposals(people):
    """Not allowlisted, wrong device kind and bad parameters are 422; a second pending copy is 409."""
    olga = people["olga"]
    for body in (
        {"action": "format_disk", "target_device": "app-01"},
        {"action": "failover_path", "target_device": "sw-01", "parameters": {"target": "lte"}},
        {"action": "throttle_guest_wifi", "target_device": "fw-01", "parameters": {"ssid": "Guest"}},
        {"action": "restart_service", "target_device": "app-01", "parameters": {"service": "x; reboot"}},
    ):
        response = olga.post("/api/v3/actions", json=body)
        assert response.status_code == 422, (body, response.text)
    body = {"action": "reset_connection", "target_device": "fw-01", "parameters": {"connection": "tunnel0"}}
    assert olga.post("/api/v3/actions", json=body).status_code == 201
    duplicate = olga.post("/api/v3/actions", json=body)
    assert duplicate.status_code == 409 and "already pending_approval" in duplicate.json()["detail"]


def test_a_reboot_outside_a_maintenance_window_is_refused(people):
    """reboot_device, approved by two people, still may not run outside a maintenance window."""
    olga, anna, bert = people["olga"], people["anna"], people["bert"]
    action = olga.post("/api/v3/actions", json={"action": "reboot_device", "target_device": "sw-01"}).json()
    for approver in (anna, bert):
        assert approver.post(f"/api/v3/approvals/{action['action_id']}", json={"decision": "approved"}).status_code == 200
    refused = olga.post(f"/api/v3/actions/{action['action_id']}/execute")
    assert refused.status_code == 409 and "maintenance window" in refused.json()["detail"]
    assert olga.get(f"/api/v3/actions/{action['action_id']}").json()["status"] == "approved"


def test_policies_show_the_effective_policy_and_its_diff(people):
    """The node's ship shows its maintenance-window override as the diff; another ship its own."""
    vic = people["vic"]
    mine = vic.get("/api/v3/policies").json()
    assert mine["ship_id"] == SHIP
    assert set(mine["effective"]) >= {"detect", "correlate", "remediate", "slo"}
    assert [d["path"] for d in mine["diff"]] == ["remediate.maintenance_windows"]
    assert mine["diff"][0]["effective"][0]["name"] == "dry-dock-2000"
    assert mine["diff"][0]["default"][0]["name"] == "weekly-early-morning"
    example = vic.get("/api/v3/policies", params={"ship_id": "example-ship"}).json()
    assert "detect.metric_thresholds" in [d["path"] for d in example["diff"]]
    assert vic.get("/api/v3/policies", params={"ship_id": "Not A Ship!"}).status_code == 422


def test_incident_and_token_mutations_are_audited(people, admin):
    """Opening, acknowledging (and a refused repeat) of an incident, and a token, each leave an entry."""
    olga, vic = people["olga"], people["vic"]
    incident = olga.post("/api/v3/incidents", json={
        "incident_type": "app_degradation", "severity": "medium", "title": "POS terminals slow", "device_id": "app-01"})
    assert incident.status_code == 201
    incident_id = incident.json()["incident_id"]
    assert olga.patch(f"/api/v3/incidents/{incident_id}", json={"status": "acknowledged"}).status_code == 200
    assert olga.patch(f"/api/v3/incidents/{incident_id}", json={"status": "acknowledged"}).status_code == 409
    trail = list(reversed(audit(vic, target=f"incident:{incident_id}")))
    assert [(e["actor"], e["action"], e["result"]) for e in trail] == [
        ("olga", "incident.create", "ok"), ("olga", "incident.update", "ok"), ("olga", "incident.update", "conflict"),
    ]
    assert trail[1]["details"] == {"from": "open", "to": "acknowledged", "comment": ""}
    tokens = audit(vic, action="token.create", target="token:olga")
    assert tokens[0]["actor"] == "bootstrap-admin" and tokens[0]["details"] == {"role": "operator"}
    timeline = vic.get(f"/api/v3/incidents/{incident_id}").json()["timeline"]
    assert [e["kind"] for e in timeline][:2] == ["created", "status"]
