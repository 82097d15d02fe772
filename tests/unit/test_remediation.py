"""Remediation logic: policy checks, approvals, expiry, execution guard rails, proposals from
insights, and the executors (dry run, a real command, a real loopback HTTP hook)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aiops_core.devices import Device
from aiops_core.models import ActionStatus, Incident, IncidentStatus, IncidentType, RemediationAction, Severity
from aiops_core.nats_server import free_port
from aiops_core.policy import CommandExecutor as CommandSettings
from aiops_core.policy import HttpHookExecutor as HookSettings
from aiops_core.policy import MaintenanceWindow, ParameterHint, RemediatePolicy, load_policy
from services.remediation import checks, handlers
from services.remediation.checks import Refused
from services.remediation.executors import (
    CommandExecutor,
    DryRunExecutor,
    HttpHookExecutor,
    executor_for,
    render_argv,
)
from services.remediation.handlers import Proposal
from services.remediation.runbooks import front_matter, load_runbook_actions

ROOT = Path(__file__).resolve().parents[2]
SHIP = "ms-test"
# A Wednesday noon: outside the default Tuesday 03:00-05:00 maintenance window.
WEDNESDAY = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
TUESDAY_0330 = datetime(2026, 3, 3, 3, 30, tzinfo=timezone.utc)

DEVICES = {
    d.device_id: d
    for d in (
        Device(SHIP, "fw-01", kind="firewall"),
        Device(SHIP, "app-01", kind="app_server", services=("pos-agent", "nginx")),
        Device(SHIP, "dns-01", kind="dns_server", services=("unbound",)),
        Device(SHIP, "sw-01", kind="access_switch"),
        Device(SHIP, "vsat-01", kind="vsat_modem"),
        Device(SHIP, "wlc-01", kind="wlc"),
    )
}


@pytest.fixture(scope="module")
def policy() -> RemediatePolicy:
    return load_policy(ROOT / "policies").remediate


def propose(policy: RemediatePolicy, action: str, target: str, *, by: str = "olga", params=None,
            open_actions=(), last_run=None, now=WEDNESDAY) -> RemediationAction:
    return handlers.propose(
        Proposal(ship_id=SHIP, action=action, target_device=target, requested_by=by, parameters=params or {}),
        policy=policy, device=DEVICES.get(target), open_actions=open_actions, last_run=last_run, now=now,
    )


def approved(policy: RemediatePolicy, action: str, target: str, params=None, now=WEDNESDAY) -> RemediationAction:
    created = propose(policy, action, target, params=params, now=now)
    for approver in ("anna", "bert")[: created.approvals_required]:
        created, _ = handlers.decide(created, approver=approver, decision="approved", comment="", prior=[], now=now)
    assert created.status == ActionStatus.APPROVED
    return created


# --- policy checks --------------------------------------------------------------------------------


def test_an_action_outside_the_allowlist_is_refused_as_invalid(policy):
    """An action remediate.yaml does not list is a 422, naming the allowed ones."""
    with pytest.raises(Refused) as refused:
        propose(policy, "format_disk", "app-01")
    assert refused.value.status == 422
    assert "not allowlisted" in refused.value.reason and "restart_service" in refused.value.reason


def test_an_action_on_a_device_kind_the_policy_does_not_allow_is_refused(policy):
    """failover_path may run on routers and firewalls only, so on a switch it is a 422."""
    with pytest.raises(Refused) as refused:
        propose(policy, "failover_path", "sw-01", params={"target": "starlink"})
    assert refused.value.status == 422 and "access_switch" in refused.value.reason


def test_an_unknown_device_is_refused(policy):
    """A target missing from the device registry cannot be checked against device kinds: 422."""
    with pytest.raises(Refused) as refused:
        propose(policy, "rotate_logs", "ghost-01")
    assert refused.value.status == 422 and "unknown device" in refused.value.reason


@pytest.mark.parametrize(("params", "problem"), [
    ({}, "service: required"),
    ({"service": "pos-agent\n"}, "must not contain control characters"),
    ({"service": "pos;reboot"}, "must match"),
    ({"service": "pos-agent", "extra": 1}, "unknown parameter(s): extra"),
    ({"service": 5}, "must be a string"),
])
def test_restart_service_parameters_are_validated(policy, params, problem):
    """Parameters are checked against their hints; a pattern must match the whole value."""
    with pytest.raises(Refused) as refused:
        propose(policy, "restart_service", "app-01", params=params)
    assert refused.value.status == 422 and problem in refused.value.reason


def test_a_pattern_must_match_the_whole_value():
    """A pattern written without anchors still has to match all of the value, not a prefix."""
    hints = {"name": ParameterHint(type="string", required=True, pattern="[a-z]+")}
    assert checks.validate_parameters(hints, {"name": "abc"}) == {"name": "abc"}
    with pytest.raises(Refused, match="must match"):
        checks.validate_parameters(hints, {"name": "abc-def"})


def test_integer_bounds_choices_and_control_characters_are_enforced():
    """Minimum, maximum, choices, the bool-is-not-an-integer trap and control characters."""
    hints = load_policy(ROOT / "policies").remediate.actions["throttle_guest_wifi"].parameters
    assert checks.validate_parameters(hints, {"ssid": "Guest", "rate_kbps": 512}) == {"ssid": "Guest", "rate_kbps": 512}
    for bad in ({"ssid": "Guest", "rate_kbps": 100}, {"ssid": "Guest", "rate_kbps": True},
                {"ssid": "Guest\x00", "rate_kbps": 512}, {"ssid": "Guest", "rate_kbps": 100_001}):
        with pytest.raises(Refused):
            checks.validate_parameters(hints, bad)
    cache = load_policy(ROOT / "policies").remediate.actions["clear_cache"].parameters
    with pytest.raises(Refused, match="one of dns, arp, app"):
        checks.validate_parameters(cache, {"cache": "disk"})


def test_medium_and_high_risk_actions_wait_for_one_and_two_approvers(policy):
    """restart_service (medium) needs one approver, failover_path (high) two."""
    medium = propose(policy, "restart_service", "app-01", params={"service": "pos-agent"})
    high = propose(policy, "failover_path", "fw-01", params={"target": "starlink"})
    assert (medium.status, medium.approvals_required, medium.risk) == (ActionStatus.PENDING_APPROVAL, 1, "medium")
    assert (high.status, high.approvals_required, high.risk) == (ActionStatus.PENDING_APPROVAL, 2, "high")
    assert medium.dry_run and high.dry_run


def test_a_low_risk_action_the_policy_auto_approves_is_approved_at_once(policy):
    """clear_cache is low risk with auto_approve: it is approved without any approver."""
    action = propose(policy, "clear_cache", "dns-01", params={"cache": "dns"})
    assert action.status == ActionStatus.APPROVED
    assert action.approved_by == [] and action.approvals_required == 0


def test_a_second_proposal_of_an_open_action_on_the_same_target_conflicts(policy):
    """The same action pending on the same device makes a new proposal a 409; another device is fine."""
    first = propose(policy, "rotate_logs", "app-01")
    with pytest.raises(Refused) as refused:
        propose(policy, "rotate_logs", "app-01", open_actions=[first])
    assert refused.value.status == 409 and first.action_id in refused.value.reason
    done = first.model_copy(update={"status": ActionStatus.SUCCEEDED})
    assert propose(policy, "rotate_logs", "app-01", open_actions=[done]).status == ActionStatus.APPROVED


def test_cooldown_blocks_a_repeat_until_it_has_passed(policy):
    """reset_connection has a 600 s cooldown per target: refused at 599 s, allowed at 600 s."""
    params = {"connection": "tunnel0"}
    last_run = WEDNESDAY - timedelta(seconds=599)
    with pytest.raises(Refused) as refused:
        propose(policy, "reset_connection", "fw-01", params=params, last_run=last_run)
    assert refused.value.status == 409 and "cooldown" in refused.value.reason
    assert propose(policy, "reset_connection", "fw-01", params=params,
                   last_run=WEDNESDAY - timedelta(seconds=600)).status == ActionStatus.PENDING_APPROVAL


# --- approvals ------------------------------------------------------------------------------------


def test_two_person_rule_needs_two_distinct_approvers_never_the_requester(policy):
    """The requester gets a 403, a repeated approver a 409; only a second person approves."""
    action = propose(policy, "failover_path", "fw-01", by="anna", params={"target": "starlink"})
    with pytest.raises(Refused) as own:
        handlers.decide(action, approver="anna", decision="approved", comment="", prior=[], now=WEDNESDAY)
    assert own.value.status == 403

    once, first = handlers.decide(action, approver="bert", decision="approved", comment="ok", prior=[], now=WEDNESDAY)
    assert once.status == ActionStatus.PENDING_APPROVAL and once.approved_by == ["bert"]
    with pytest.raises(Refused) as twice:
        handlers.decide(once, approver="bert", decision="approved", comment="", prior=[first], now=WEDNESDAY)
    assert twice.value.status == 409

    done, second = handlers.decide(once, approver="carl", decision="approved", comment="", prior=[first], now=WEDNESDAY)
    assert done.status == ActionStatus.APPROVED and done.approved_by == ["bert", "carl"]
    assert second.approver == "carl" and done.updated_at > action.updated_at


def test_a_rejection_ends_the_action_and_nothing_more_can_be_decided(policy):
    """One rejection rejects the action, with who and why in its result; deciding again is a 409."""
    action = propose(policy, "restart_service", "app-01", params={"service": "pos-agent"})
    rejected, _ = handlers.decide(action, approver="anna", decision="rejected", comment="peak hours", prior=[], now=WEDNESDAY)
    assert rejected.status == ActionStatus.REJECTED and rejected.result == "rejected by anna: peak hours"
    with pytest.raises(Refused) as late:
        handlers.decide(rejected, approver="bert", decision="approved", comment="", prior=[], now=WEDNESDAY)
    assert late.value.status == 409


def test_a_proposal_expires_ttl_after_it_was_made(policy):
    """Unapproved after approval_ttl_seconds, a proposal turns rejected as expired; before, it stands."""
    ttl = policy.approval_ttl_seconds
    action = propose(policy, "restart_service", "app-01", params={"service": "pos-agent"})
    assert handlers.expire(action, ttl_seconds=ttl, now=WEDNESDAY + timedelta(seconds=ttl - 1)) is None
    expired = handlers.expire(action, ttl_seconds=ttl, now=WEDNESDAY + timedelta(seconds=ttl))
    assert expired is not None and expired.status == ActionStatus.REJECTED
    assert expired.result.startswith("expired: no approval")


def test_an_approval_expires_ttl_after_it_was_given_if_the_action_did_not_run(policy):
    """The deadline of an approved action counts from its last approval, not its proposal."""
    ttl = policy.approval_ttl_seconds
    action = propose(policy, "restart_service", "app-01", params={"service": "pos-agent"})
    later = WEDNESDAY + timedelta(seconds=ttl - 10)
    ok, _ = handlers.decide(action, approver="anna", decision="approved", comment="", prior=[], now=later)
    assert handlers.expires_at(ok, ttl) == later + timedelta(seconds=ttl)
    assert handlers.expire(ok, ttl_seconds=ttl, now=later + timedelta(seconds=ttl - 1)) is None
    expired = handlers.expire(ok, ttl_seconds=ttl, now=later + timedelta(seconds=ttl))
    assert expired is not None and expired.result.startswith("expired: no execution")


# --- execution guard rails ------------------------------------------------------------------------


def test_only_an_approved_action_can_start(policy):
    """A pending action cannot be executed: 409."""
    action = propose(policy, "restart_service", "app-01", params={"service": "pos-agent"})
    with pytest.raises(Refused) as refused:
        handlers.start_execution(action, policy=policy, running=[], last_run=None, now=WEDNESDAY)
    assert refused.value.status == 409 and "pending_approval" in refused.value.reason


def test_an_action_that_needs_a_maintenance_window_runs_only_inside_one(policy):
    """reboot_device is refused on Wednesday noon and starts on Tuesday 03:30 (the default window)."""
    action = approved(policy, "reboot_device", "sw-01")
    with pytest.raises(Refused) as refused:
        handlers.start_execution(action, policy=policy, running=[], last_run=None, now=WEDNESDAY)
    assert refused.value.status == 409 and "maintenance window" in refused.value.reason
    started = handlers.start_execution(action, policy=policy, running=[], last_run=None, now=TUESDAY_0330)
    assert started.status == ActionStatus.EXECUTING


def test_a_maintenance_window_covers_only_its_ship_and_devices(policy):
    """A window limited to acu-* devices does not open the way for a switch reboot."""
    window = MaintenanceWindow(name="antenna", ship_id=SHIP, devices=("acu-*",),
                               start=WEDNESDAY - timedelta(hours=1), end=WEDNESDAY + timedelta(hours=1))
    scoped = policy.model_copy(update={"maintenance_windows": (window,)})
    assert checks.open_window(scoped, SHIP, "acu-01", WEDNESDAY) is window
    assert checks.open_window(scoped, SHIP, "sw-01", WEDNESDAY) is None
    assert checks.open_window(scoped, "other-ship", "acu-01", WEDNESDAY) is None


def test_execution_respects_cooldown_busy_device_and_ship_concurrency(policy):
    """A recent run, another action running on the device, or the ship's limit each make it a 409."""
    action = approved(policy, "rotate_logs", "app-01")
    with pytest.raises(Refused, match="cooldown"):
        handlers.start_execution(action, policy=policy, running=[], last_run=WEDNESDAY - timedelta(seconds=10), now=WEDNESDAY)
    busy = approved(policy, "restart_service", "app-01", params={"service": "nginx"}).model_copy(
        update={"status": ActionStatus.EXECUTING})
    with pytest.raises(Refused, match="already running on app-01"):
        handlers.start_execution(action, policy=policy, running=[busy], last_run=None, now=WEDNESDAY)
    elsewhere = busy.model_copy(update={"target_device": "dns-01"})
    with pytest.raises(Refused, match="max_concurrent_actions 1"):
        handlers.start_execution(action, policy=policy, running=[elsewhere], last_run=None, now=WEDNESDAY)
    started = handlers.start_execution(action, policy=policy, running=[], last_run=None, now=WEDNESDAY)
    done = handlers.finish(started, ok=False, result="exit 2", now=WEDNESDAY)
    assert (started.status, done.status, done.result) == (ActionStatus.EXECUTING, ActionStatus.FAILED, "exit 2")


def test_the_view_shows_the_cooldown_only_while_it_lasts(policy):
    """cooldown_until is the last run plus the cooldown while that is ahead, else null."""
    action = approved(policy, "rotate_logs", "app-01")
    recent = handlers.view(action, approvals=[], last_run=WEDNESDAY - timedelta(seconds=60), policy=policy, now=WEDNESDAY)
    assert recent["cooldown_until"] == "2026-03-04T12:59:00Z"
    old = handlers.view(action, approvals=[], last_run=WEDNESDAY - timedelta(hours=2), policy=policy, now=WEDNESDAY)
    assert old["cooldown_until"] is None
    assert recent["pre_checks"] == ["path is under /var/log"] and recent["approvals"] == []


# --- proposals from an insight --------------------------------------------------------------------


def incident(device: str, *, services=(), status=IncidentStatus.OPEN) -> Incident:
    return Incident(
        incident_id="5b0d6a5e-8a4b-4f55-9d2c-1c7c1b8e2f10", ship_id=SHIP, fingerprint="fp",
        incident_type=IncidentType.RESOURCE_PRESSURE, severity=Severity.HIGH, status=status, title="disk full",
        root_cause_device=device, anomaly_count=1, services=list(services), first_seen=WEDNESDAY,
        last_seen=WEDNESDAY, created_at=WEDNESDAY, updated_at=WEDNESDAY, version=1,
    )


def test_runbooks_actions_are_proposed_for_the_root_device_when_its_kind_allows(policy):
    """A disk-full runbook on an app server proposes rotate_logs and clear_cache (cache app)."""
    runbooks = {"rb-disk": ("rotate_logs", "clear_cache"), "rb-fw": ("failover_path",)}
    proposals, skipped = handlers.auto_proposals(
        runbook_ids=["rb-disk", "rb-fw"], incident=incident("app-01"), device=DEVICES["app-01"],
        runbooks=runbooks, policy=policy,
    )
    assert [(p.action, p.parameters, p.requested_by) for p in proposals] == [
        ("rotate_logs", {}, "aiops"), ("clear_cache", {"cache": "app"}, "aiops"),
    ]
    assert skipped == ["failover_path: not allowed on a app_server"]


def test_a_required_parameter_the_platform_cannot_choose_skips_the_action(policy):
    """restart_service takes the incident's service when the device runs it, else it is skipped."""
    runbooks = {"rb": ("restart_service",)}
    known, _ = handlers.auto_proposals(runbook_ids=["rb"], incident=incident("app-01", services=["nginx"]),
                                       device=DEVICES["app-01"], runbooks=runbooks, policy=policy)
    assert known[0].parameters == {"service": "nginx"}
    unknown, skipped = handlers.auto_proposals(runbook_ids=["rb"], incident=incident("app-01", services=["unknown"]),
                                               device=DEVICES["app-01"], runbooks=runbooks, policy=policy)
    assert unknown == [] and "needs parameter service" in skipped[0]


def test_a_resolved_incident_proposes_nothing(policy):
    """Once an operator resolved the incident, a late insight proposes no action."""
    proposals, skipped = handlers.auto_proposals(
        runbook_ids=["rb"], incident=incident("app-01", status=IncidentStatus.RESOLVED), device=DEVICES["app-01"],
        runbooks={"rb": ("rotate_logs",)}, policy=policy,
    )
    assert proposals == [] and skipped == ["incident is resolved"]


def test_the_automatic_action_id_is_stable_per_incident_action_and_device():
    """A redelivered insight derives the same id; another device or action a different one."""
    a = handlers.auto_action_id("inc", "rotate_logs", "app-01")
    assert a == handlers.auto_action_id("inc", "rotate_logs", "app-01")
    assert a != handlers.auto_action_id("inc", "rotate_logs", "app-02")
    assert a != handlers.auto_action_id("inc", "clear_cache", "app-01")


def test_runbook_front_matter_gives_each_runbooks_actions():
    """The shipped knowledge base maps rb-disk-full-server to its front-matter actions."""
    actions = load_runbook_actions(ROOT / "knowledge" / "runbooks")
    assert actions["rb-disk-full-server"] == ("rotate_logs", "clear_cache")
    assert actions["rb-rack-power-thermal-alarm"] == ()
    assert front_matter("no front matter here") == {}


# --- executors ------------------------------------------------------------------------------------


def command_settings(commands: dict, timeout: float = 10.0) -> CommandSettings:
    return CommandSettings(timeout_seconds=timeout, commands=commands)


async def test_dry_run_records_the_command_it_would_run_and_changes_nothing(policy):
    """The dry run's result names the rendered argv and the checks, and says nothing changed."""
    action = approved(policy, "restart_service", "app-01", params={"service": "pos-agent"})
    outcome = await DryRunExecutor(policy.executor.command).run(action, policy.actions["restart_service"], DEVICES["app-01"])
    assert outcome.ok
    assert "nothing was changed" in outcome.text
    assert "would run: ansible-playbook playbooks/restart_service.yml -l app-01 -e service=pos-agent" in outcome.text
    assert "service is active within 60 s" in outcome.text
    assert isinstance(executor_for(policy.executor), DryRunExecutor)


def test_argv_values_stay_single_arguments_whatever_they_contain(policy):
    """Substitution never splits or interprets a value: there is no shell (defence in depth behind
    the parameter patterns, so the value here bypasses them)."""
    action = approved(policy, "throttle_guest_wifi", "wlc-01", params={"ssid": "Guest", "rate_kbps": 512})
    action = action.model_copy(update={"parameters": {"ssid": "Guest $(reboot)", "rate_kbps": 512}})
    argv = render_argv(("echo", "{ssid}", "{device_id}", "{rate_kbps}"), action)
    assert argv == ["echo", "Guest $(reboot)", "wlc-01", "512"]


async def test_command_executor_succeeds_on_exit_zero_and_fails_otherwise(policy):
    """`true` is a success, `false` a failure with its exit code, both recorded."""
    action = approved(policy, "rotate_logs", "app-01")
    rule = policy.actions["rotate_logs"]
    ok = await CommandExecutor(command_settings({"rotate_logs": ("true",)})).run(action, rule, None)
    assert ok.ok and ok.text.startswith("true succeeded")
    failed = await CommandExecutor(command_settings({"rotate_logs": ("false",)})).run(action, rule, None)
    assert not failed.ok and "exit code 1" in failed.text


async def test_command_executor_passes_the_rendered_argv_and_keeps_the_output(policy):
    """The process gets the device and parameters as separate arguments; its output is in the result."""
    action = approved(policy, "restart_service", "app-01", params={"service": "pos-agent"})
    settings = command_settings({"restart_service": ("printf", "%s|", "{device_id}", "service={service}")})
    outcome = await CommandExecutor(settings).run(action, policy.actions["restart_service"], None)
    assert outcome.ok and "output: app-01|service=pos-agent|" in outcome.text


async def test_command_executor_kills_a_command_that_overruns_its_timeout(policy):
    """A command still running at the timeout is killed and the run fails saying so."""
    action = approved(policy, "rotate_logs", "app-01")
    settings = command_settings({"rotate_logs": ("sleep", "30")}, timeout=0.2)
    outcome = await CommandExecutor(settings).run(action, policy.actions["rotate_logs"], None)
    assert not outcome.ok and outcome.text.startswith("timed out after 0.2 s")


async def test_command_executor_fails_cleanly_without_a_command_or_a_value(policy):
    """A missing binary, a missing template and a template needing an absent parameter all fail."""
    action = approved(policy, "rotate_logs", "app-01")
    rule = policy.actions["rotate_logs"]
    missing = await CommandExecutor(command_settings({"rotate_logs": ("/nonexistent/bin/x",)})).run(action, rule, None)
    assert not missing.ok and "could not start" in missing.text
    unset = await CommandExecutor(command_settings({"clear_cache": ("true",)})).run(action, rule, None)
    assert not unset.ok and "no command is configured" in unset.text
    needs = await CommandExecutor(command_settings({"rotate_logs": ("echo", "{path}")})).run(action, rule, None)
    assert not needs.ok and "needs 'path'" in needs.text


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict, dict]] = []
    status = 200

    def do_POST(self):  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        _Hook.received.append((dict(self.headers), body))
        self.send_response(_Hook.status)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"queued" if _Hook.status == 200 else b"playbook failed")

    def log_message(self, *args):
        return None


@pytest.fixture
def hook_server():
    _Hook.received, _Hook.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_http_hook_posts_the_action_and_records_the_answer(policy, hook_server):
    """The hook gets the action, the device kind and the checks as JSON; 2xx is success, 5xx failure."""
    url = f"http://127.0.0.1:{hook_server.server_address[1]}/run"
    action = approved(policy, "restart_service", "app-01", params={"service": "pos-agent"})
    executor = HttpHookExecutor(HookSettings(url=url, timeout_seconds=5, verify_tls=True))
    outcome = await executor.run(action, policy.actions["restart_service"], DEVICES["app-01"])
    assert outcome.ok and outcome.text == f"POST {url} answered 200: queued"
    headers, body = _Hook.received[0]
    assert headers["Idempotency-Key"] == action.action_id
    assert body["action"] == "restart_service" and body["parameters"] == {"service": "pos-agent"}
    assert body["device_kind"] == "app_server" and body["post_checks"][0] == "service is active within 60 s"

    _Hook.status = 500
    failed = await executor.run(action, policy.actions["restart_service"], DEVICES["app-01"])
    assert not failed.ok and "answered 500: playbook failed" in failed.text


async def test_http_hook_that_cannot_be_reached_is_a_failed_run(policy):
    """Nothing listening on the hook's port: the run fails with the error, it does not raise."""
    url = f"http://127.0.0.1:{free_port()}/run"
    action = approved(policy, "rotate_logs", "app-01")
    outcome = await HttpHookExecutor(HookSettings(url=url, timeout_seconds=2, verify_tls=True)).run(
        action, policy.actions["rotate_logs"], None)
    assert not outcome.ok and outcome.text.startswith(f"POST {url} failed")



def test_an_ssid_cannot_smuggle_extra_variables(policy):
    """The ssid pattern refuses spaces and '=', so it cannot add key=value pairs to ansible's extra-vars."""
    with pytest.raises(Refused) as refused:
        propose(policy, "throttle_guest_wifi", "wlc-01", params={"ssid": "x rate_kbps=1", "rate_kbps": 512})
    assert refused.value.status == 422 and "ssid" in str(refused.value)
