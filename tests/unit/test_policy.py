"""The segmented policy files and their typed loader (aiops_core.policy)."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiops_core.policy import (
    SEGMENTS,
    Policy,
    PolicyError,
    load_policy,
    policy_diff,
)

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """A private copy of the shipped policies that a test may break."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def write_ship(policies: Path, ship_id: str, tree: dict[str, Any]) -> None:
    (policies / "ships" / f"{ship_id}.yaml").write_text(yaml.safe_dump(tree, sort_keys=False))


def first_classification(policy: Policy, line: str) -> str | None:
    if any(rule.pattern.search(line) for rule in policy.detect.ignore_patterns):
        return "ignored"
    for rule in policy.detect.log_patterns:
        if rule.pattern.search(line):
            return rule.name
    return None


# --- the shipped files ------------------------------------------------------------------------


def test_shipped_policies_load_with_maritime_defaults():
    """Every shipped segment file loads and validates, with the documented key values."""
    policy = load_policy(POLICIES)
    assert tuple(Policy.model_fields) == SEGMENTS
    assert policy.ingest.max_message_bytes == 65536 and policy.ingest.max_batch == 5000
    assert policy.correlate.windows.seconds_for("comms_outage") == 1800
    assert policy.correlate.windows.seconds_for("power_or_hardware") == 3600
    assert policy.llm.model == "phi3:mini" and policy.llm.timeout_seconds == 3.0
    assert policy.llm.rag.top_k == 3 and policy.llm.rag.min_similarity == 0.35
    assert policy.retention.ttl_days.audit_log == 730
    assert policy.slo.fast_path_p99_ms.target == 100
    assert policy.slo.insight_path_p99_ms.target == 5000
    assert policy.privacy.shore_sync.raw_logs is False
    assert policy.remediate.executor.mode == "dry_run"


def test_example_ship_override_loads():
    """The documented example ship file validates against the defaults."""
    policy = load_policy(POLICIES, "example-ship")
    assert policy.notify.channels.webhook.enabled
    assert len(policy.correlate.suppression.maintenance_windows) == 2


def test_every_regex_compiles():
    """Every regex in the shipped policies compiles with Python's re module."""
    policy = load_policy(POLICIES)
    regexes = [r.regex for r in policy.detect.log_patterns]
    regexes += [r.regex for r in policy.detect.ignore_patterns]
    regexes += [r.regex for r in policy.detect.template.masking]
    regexes += [r.regex for r in policy.privacy.redact]
    regexes += [
        hint.pattern
        for action in policy.remediate.actions.values()
        for hint in action.parameters.values()
        if hint.pattern is not None
    ]
    assert len(regexes) > 40
    for regex in regexes:
        re.compile(regex)


def test_policy_dumps_to_json_and_validates_back():
    """model_dump(mode="json") works and the dump validates back to an equal policy."""
    policy = load_policy(POLICIES, "example-ship")
    dumped = policy.model_dump(mode="json")
    assert dumped["notify"]["quiet_hours"]["start_time"] == "21:00:00"
    assert Policy.model_validate(dumped) == policy


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("iDirect modem: RX carrier lost on demodulator 1", "vsat-carrier-lost"),
        ("Demodulator lock lost, reacquiring", "vsat-lock-lost"),
        ("IPsec tunnel to shore-gw: peer 198.51.100.1 unreachable, DPD timeout", "vpn-tunnel-down"),
        ("unbound: timed out resolving mail.shoreops.example", "dns-resolution-timeout"),
        ('msg="IPsec phase 2 down" vpntunnel="to-shore"', "vpn-tunnel-down"),
        ("ACM: rain fade detected, switching to MODCOD QPSK 1/2", "vsat-rain-fade"),
        ("Es/No below threshold: 3.1 dB", "vsat-esno-low"),
        ("ACU: antenna entering blockage zone az=212.5", "antenna-blockage"),
        ("ACU: tracking lost on NSS-12, starting search", "antenna-tracking-lost"),
        ("starlink dish: Obstructed 4.2% of last 12h", "starlink-obstructed"),
        ("starlink-01 state DISCONNECTED reason=NO_DOWNLINK", "starlink-disconnected"),
        ("%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down", "interface-down"),
        (
            "%LINEPROTO-5-UPDOWN: Line protocol on Interface GigabitEthernet0/1, changed state to down",
            "line-protocol-down",
        ),
        ("%PM-4-ERR_DISABLE: link-flap error detected on Gi1/0/12", "interface-flapping"),
        ("%BGP-5-ADJCHANGE: neighbor 10.255.0.1 Down BGP Notification sent", "bgp-neighbor-down"),
        (
            "%OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.2 on Gi0/0 from FULL to DOWN, Neighbor Down",
            "ospf-neighbor-down",
        ),
        ('devname="fw-01" msg="Kernel enters memory conserve mode"', "firewall-session-table-full"),
        ("dhcpd: DHCPDISCOVER from 3c:22:fb:11:22:33 via eth1: no free leases", "dhcp-pool-exhausted"),
        ("unbound: reply SERVFAIL for portal.cruise.example A IN", "dns-servfail"),
        ("named: DNS query to 8.8.8.8 timed out", "dns-resolution-timeout"),
        ("write /var/lib/clickhouse/data.bin: No space left on device", "disk-full"),
        ("kernel: Out of memory: Killed process 4242 (java)", "oom-killer"),
        ("sshd[1234]: Failed password for invalid user admin from 203.0.113.5", "ssh-invalid-user"),
        ("sshd[1234]: Failed password for root from 203.0.113.5 port 52311", "ssh-failed-password"),
        ("pam_unix(sshd:auth): authentication failure; rhost=10.1.1.1", "authentication-failure"),
        ('type="utm" subtype="ips" attack="TCP.Port.Scan"', "port-scan-or-ips"),
        ("x509: certificate has expired or is not yet valid", "certificate-expired"),
        ("VPN gateway certificate will expire in 7 days", "certificate-expiring"),
        ("POS terminal pos-deck5-bar2 offline since 10:02", "pos-terminal-offline"),
        ("payment gateway request timed out after 30000 ms", "payment-gateway-timeout"),
        ("reservations-api could not connect to server: Connection refused", "reservations-db-refused"),
        ("%PLATFORM_ENV-1-PWR: Internal Power supply not supplying power", "power-supply-failure"),
        ("%PLATFORM_ENV-1-FAN: Faulty fan detected", "fan-failure"),
        ("%ENVMON-1-TEMP_CRITICAL: inlet temperature exceeded 55C", "temperature-high"),
        ("%CAPWAP-3-DISC_AP_MGMT: AP ap-deck7-012 disassociated from controller", "wlc-ap-disassociated"),
        ("AP ap-deck7-012 radio slot 1 reset due to beacon stuck", "wlc-radio-reset"),
        ("Client 3c:22:fb:11:22:33 association failed: reason 17", "wlc-client-association-failures"),
        ("Starlink: satellite handoff", "ignored"),
        ("starlink reconfiguration complete", "ignored"),
        ("Satellite handoff failed: NO_DOWNLINK", "starlink-disconnected"),
        ("%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up", None),
        ("Accepted password for admin from 10.0.0.5", None),
    ],
)
def test_log_patterns_classify_maritime_lines(line: str, expected: str | None):
    """Representative ship log lines hit the intended rule first; normal ones hit none."""
    assert first_classification(load_policy(POLICIES), line) == expected


def test_latency_thresholds_depend_on_device_kind():
    """A normal 600 ms geostationary RTT breaches no latency rule; on Starlink it does."""
    rules = [t for t in load_policy(POLICIES).detect.metric_thresholds if t.metric == "latency_ms"]
    assert not any(r.applies_to("latency_ms", "vsat_modem") and r.breached_by(600) for r in rules)
    assert any(r.applies_to("latency_ms", "vsat_modem") and r.breached_by(1500) for r in rules)
    assert any(r.applies_to("latency_ms", "starlink_terminal") and r.breached_by(600) for r in rules)


def test_privacy_rules_redact_personal_data_but_not_log_numbers():
    """Email, card, phone, passport and cabin/guest names are redacted; timestamps and ports stay."""
    privacy = load_policy(POLICIES).privacy
    text = privacy.redact_text(
        "jane.doe@example.com paid 4111 1111 1111 1111, call +44 20 7946 0958, "
        "passport no: X1234567, cabin 8123 guest Jane Doe at 2025-01-01 12:00:00 port 5432"
    )
    assert text == (
        "[EMAIL] paid [PAN], call [PHONE], passport [REDACTED], cabin [REDACTED] "
        "at 2025-01-01 12:00:00 port 5432"
    )


# --- per-ship overrides -----------------------------------------------------------------------


def test_ship_override_deep_merges_mappings_and_replaces_lists(policies: Path):
    """A ship file merges into mappings key by key and replaces lists as a whole."""
    write_ship(policies, "ms-aurora", {
        "detect": {"metric_thresholds": [
            {"metric": "snr_db", "op": "lt", "value": 6, "hold_seconds": 30,
             "severity": "critical", "incident_type": "link_degradation"},
        ]},
        "notify": {"quiet_hours": {"start_time": "21:00"}},
        "correlate": {"windows": {"auth_failure": 300}},
    })
    default = load_policy(policies)
    ship = load_policy(policies, "ms-aurora")

    assert len(ship.detect.metric_thresholds) == 1
    assert ship.detect.metric_thresholds[0].value == 6
    assert ship.notify.quiet_hours.start_time.hour == 21
    assert ship.notify.quiet_hours.end_time == default.notify.quiet_hours.end_time
    assert ship.correlate.windows.auth_failure == 300
    assert ship.correlate.windows.comms_outage == default.correlate.windows.comms_outage
    assert ship.detect.log_patterns == default.detect.log_patterns


def test_ship_without_override_file_gets_defaults(policies: Path):
    """A ship with no file in ships/ runs on exactly the defaults."""
    assert load_policy(policies, "ms-no-file") == load_policy(policies)


def test_policy_diff_reports_exactly_the_changed_leaves(policies: Path):
    """policy_diff lists each changed leaf once, a replaced list as one leaf, and nothing else."""
    write_ship(policies, "ms-aurora", {
        "notify": {"quiet_hours": {"start_time": "21:00"}, "min_severity": "high"},
        "correlate": {"topology": {"max_hops": 2}},
        "llm": {"rag": {"collections": {"runbooks": "runbooks-v2"}}},
        "detect": {"mad": {"metrics": ["snr_db"]}},
    })
    diff = policy_diff(load_policy(policies), load_policy(policies, "ms-aurora"))
    assert diff == [
        {"path": "correlate.topology.max_hops", "default": 3, "effective": 2},
        {
            "path": "detect.mad.metrics",
            "default": ["snr_db", "esno_db", "cpu_pct", "mem_pct", "fw_sessions_pct"],
            "effective": ["snr_db"],
        },
        {"path": "llm.rag.collections.runbooks", "default": "runbooks", "effective": "runbooks-v2"},
        {"path": "notify.min_severity", "default": "medium", "effective": "high"},
        {"path": "notify.quiet_hours.start_time", "default": "22:00:00", "effective": "21:00:00"},
    ]
    assert policy_diff(load_policy(policies), load_policy(policies)) == []


# --- failures name file and field --------------------------------------------------------------


def load_error(policies: Path, ship_id: str | None = None) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(policies, ship_id)
    return caught.value


def test_unknown_key_names_file_and_field(policies: Path):
    """An unknown key in a segment file is an error naming the file and the dotted path."""
    edit(policies / "correlate.yaml", lambda d: d["topology"].update(max_hopz=4))
    expected = f"{policies / 'correlate.yaml'}: topology.max_hopz: Extra inputs are not permitted"
    assert expected in str(load_error(policies))


def test_wrong_type_and_bound_name_file_and_field(policies: Path):
    """A negative hold time and a non-numeric value are reported with their list index paths."""
    def break_thresholds(data: dict) -> None:
        data["metric_thresholds"][0]["hold_seconds"] = -5
        data["metric_thresholds"][1]["value"] = "low"

    edit(policies / "detect.yaml", break_thresholds)
    error = load_error(policies)
    detect = policies / "detect.yaml"
    assert error.problems == [
        f"{detect}: metric_thresholds.0.hold_seconds: "
        "Input should be greater than or equal to 0 (got -5)",
        f"{detect}: metric_thresholds.1.value: "
        "Input should be a valid number, unable to parse string as a number (got 'low')",
    ]


def test_bad_regex_names_file_and_field(policies: Path):
    """A regex that does not compile fails at load with the pattern's path."""
    edit(policies / "detect.yaml", lambda d: d["log_patterns"][2].update(regex="(unclosed"))
    expected = (
        f"{policies / 'detect.yaml'}: log_patterns.2.regex: "
        "Value error, invalid regular expression '(unclosed'"
    )
    assert expected in str(load_error(policies))


def test_bad_yaml_names_file_and_line(policies: Path):
    """A YAML syntax error names the file and the line."""
    (policies / "llm.yaml").write_text("provider: ollama\nmodel: [phi3:mini\ntimeout_seconds: 3\n")
    message = str(load_error(policies))
    assert message.startswith(f"{policies / 'llm.yaml'}: line 3, column 16: invalid YAML: ")
    assert "flow sequence started at line 2" in message


def test_missing_segment_file_is_named(policies: Path):
    """Every segment file is required; a missing one is named."""
    (policies / "slo.yaml").unlink()
    assert str(load_error(policies)) == f"{policies / 'slo.yaml'}: file is missing"


def test_unquoted_time_of_day_is_rejected(policies: Path):
    """An unquoted 22:00 (YAML reads it as 1320) fails instead of becoming 00:22."""
    notify = policies / "notify.yaml"
    notify.write_text(notify.read_text().replace('start_time: "22:00"', "start_time: 22:00"))
    assert re.search(r"notify\.yaml: quiet_hours\.start_time: .*quoted", str(load_error(policies)))


def test_error_in_ship_override_names_the_ship_file(policies: Path):
    """A bad value coming from a ship file is reported against that file, segment-prefixed."""
    write_ship(policies, "ms-aurora", {"correlate": {"windows": {"comms_outage": "long"}}})
    expected = (
        f"{policies / 'ships' / 'ms-aurora.yaml'}: correlate.windows.comms_outage: "
        "Input should be a valid integer"
    )
    assert expected in str(load_error(policies, "ms-aurora"))


def test_unknown_segment_in_ship_override_is_an_error(policies: Path):
    """A ship file may only hold the known segments."""
    write_ship(policies, "ms-aurora", {"detection": {"template": {"depth": 5}}})
    message = str(load_error(policies, "ms-aurora"))
    assert message.startswith(f"{policies / 'ships' / 'ms-aurora.yaml'}: detection: not a policy segment")


def test_ship_id_cannot_escape_the_ships_folder(policies: Path):
    """A ship_id that is not an identifier (e.g. a path) is refused before any file is read."""
    assert str(load_error(policies, "../detect")).startswith("ship_id '../detect': does not match")


# --- guard rails inside the models --------------------------------------------------------------


def test_high_risk_action_needs_two_approvers(policies: Path):
    """The two-person rule for high risk actions cannot be configured away."""
    edit(policies / "remediate.yaml", lambda d: d["actions"]["reboot_device"].update(approvals_required=1))
    assert re.search(
        r"remediate\.yaml: actions\.reboot_device\.approvals_required: .*two approvers",
        str(load_error(policies)),
    )


def test_only_low_risk_actions_may_auto_approve(policies: Path):
    """Auto-approval of a medium risk action is refused."""
    def auto_restart(data: dict) -> None:
        data["actions"]["restart_service"].update(
            requires_approval=False, approvals_required=0, auto_approve=True
        )

    edit(policies / "remediate.yaml", auto_restart)
    message = str(load_error(policies))
    assert "actions.restart_service.requires_approval: Value error, medium and high risk" in message
    assert "actions.restart_service.auto_approve: Value error, only low risk" in message


def test_llm_timeout_must_fit_the_insight_slo(policies: Path):
    """An LLM timeout at or above the insight-path SLO is rejected against llm.yaml."""
    edit(policies / "llm.yaml", lambda d: d.update(timeout_seconds=6.0))
    expected = f"{policies / 'llm.yaml'}: timeout_seconds: must be below the insight path SLO"
    assert str(load_error(policies)).startswith(expected)


def test_weekly_maintenance_window_runs_past_midnight(policies: Path):
    """A weekly window ending before it starts covers the early hours of the next day only."""
    write_ship(policies, "ms-aurora", {"correlate": {"suppression": {"maintenance_windows": [
        {"name": "night", "ship_id": "ms-aurora", "devices": ["vsat-*"],
         "weekly": {"days": ["sat"], "start_time": "23:00", "end_time": "02:00"}},
    ]}}})
    window = load_policy(policies, "ms-aurora").correlate.suppression.maintenance_windows[0]
    saturday_night = datetime(2026, 1, 3, 23, 30, tzinfo=timezone.utc)
    sunday_early = datetime(2026, 1, 4, 1, 30, tzinfo=timezone.utc)
    sunday_late = datetime(2026, 1, 4, 23, 30, tzinfo=timezone.utc)
    assert window.covers("ms-aurora", "vsat-01", saturday_night)
    assert window.covers("ms-aurora", "vsat-01", sunday_early)
    assert not window.covers("ms-aurora", "vsat-01", sunday_late)
    assert not window.covers("ms-aurora", "fw-01", saturday_night)
    assert not window.covers("ms-other", "vsat-01", saturday_night)
