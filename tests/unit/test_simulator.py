"""The demo ship's inventory, the vendor syslog formats and the labelled scenarios."""

from __future__ import annotations

import itertools
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from aiops_core.models import IncidentType, MetricSample
from services.simulator import (
    FAULTS,
    SCENARIOS,
    InventoryError,
    SimEvent,
    build_scenario,
    load_inventory,
    parse_inventory,
    vendors,
)
from services.simulator.emit import METRIC_UNITS
from services.simulator.inventory import DEVICE_KINDS

START = datetime(2025, 3, 5, 13, 0, tzinfo=UTC)  # mid-afternoon: the busiest hour
SINGLE_FAULT_S = 1200
MIXED_S = 1800

# The ground truth the rest of the pipeline is scored against.
EXPECTED_LABELS = {
    "rain_fade": ("link_degradation", "vsat-modem-01"),
    "antenna_blockage": ("link_degradation", "acu-01"),
    "modem_reboot": ("comms_outage", "vsat-modem-01"),
    "interface_flapping": ("network_issue", "acc-sw-03"),
    "firewall_session_exhaustion": ("resource_pressure", "fw-01"),
    "dhcp_exhaustion": ("network_issue", "dhcp-01"),
    "dns_failure": ("network_issue", "dns-01"),
    "disk_full": ("resource_pressure", "res-db-01"),
    "ssh_brute_force": ("auth_failure", "crew-portal-01"),
    "pos_outage": ("app_degradation", "pos-gw-01"),
}
# A line each fault must produce: the evidence a detector keys on.
SIGNATURES = {
    "rain_fade": "RX lock lost",
    "antenna_blockage": "blockage zone",
    "modem_reboot": "cold start",
    "interface_flapping": "%LINK-3-UPDOWN: Interface GigabitEthernet1/0/17, changed state to down",
    "firewall_session_exhaustion": "conserve mode",
    "dhcp_exhaustion": "no free leases",
    "dns_failure": "SERVFAIL",
    "disk_full": "No space left on device",
    "ssh_brute_force": "Failed password for invalid user",
    "pos_outage": "offline",
}
FAULT_KEYWORDS = (
    "lock lost",
    "carrier lost",
    "blockage",
    "tracking lost",
    "watchdog",
    "changed state to down",
    "conserve mode",
    "table is full",
    "no free leases",
    "SERVFAIL",
    "timed out",
    "timeout",
    "No space left",
    "Failed password",
    "Invalid user",
    "authentication failure",
    "offline",
    "unavailable",
)


@cache
def events_of(name: str, seed: int = 7) -> tuple[SimEvent, ...]:
    duration = MIXED_S if name == "mixed" else SINGLE_FAULT_S
    return tuple(build_scenario(name, start=START, duration_s=duration, seed=seed).events())


def text_of(event: SimEvent) -> str:
    assert isinstance(event.payload, bytes)
    return event.payload.decode("utf-8")


def pri_of(line: bytes) -> int:
    match = re.match(rb"<(\d{1,3})>", line)
    assert match, line
    return int(match.group(1))


# --- inventory ---------------------------------------------------------------------------------


def test_demo_inventory_has_the_ships_devices_and_dependency_edges():
    """The demo registry loads ~30-40 devices of known kinds and the documented shore path."""
    inv = load_inventory()
    assert inv.ship_id == "ms-aurora"
    assert 30 <= len(inv.devices) <= 40
    assert {d.kind for d in inv.devices} <= DEVICE_KINDS
    assert inv["fw-01"].upstream == ("core-rtr-01",)
    assert set(inv["core-rtr-01"].upstream) == {"vsat-modem-01", "starlink-01"}
    assert inv["vsat-modem-01"].upstream == ("acu-01",)
    assert inv.resolve_host("FGT-AURORA-01").device_id == "fw-01"
    assert inv.resolve_host("fgt-aurora-01").device_id == "fw-01"
    kinds = Counter(d.kind for d in inv.devices)
    assert kinds["firewall"] == 2 and kinds["core_router"] == 2 and kinds["access_point"] >= 8


def test_upstream_and_downstream_walk_the_dependency_graph():
    """A payment terminal depends transitively on the antenna controller, and vice versa."""
    inv = load_inventory()
    upstream = [d.device_id for d in inv.upstream_of("pos-term-01")]
    assert upstream[:2] == ["acc-sw-02", "pos-gw-01"]
    assert {"fw-01", "core-rtr-01", "vsat-modem-01", "acu-01"} <= set(upstream)
    downstream = {d.device_id for d in inv.downstream_of("acu-01")}
    assert {"vsat-modem-01", "fw-01", "pos-gw-01", "pos-term-01", "res-app-01"} <= downstream
    assert "starlink-01" not in downstream


def _registry(*devices: dict) -> dict:
    base = {
        "kind": "server",
        "vendor": "Dell",
        "model": "R450",
        "location": "Deck 4",
        "criticality": "low",
    }
    return {
        "ship_id": "test-ship",
        "devices": [{**base, "mgmt_ip": f"10.0.0.{i + 1}", **d} for i, d in enumerate(devices)],
    }


def test_unknown_upstream_is_rejected_with_the_device_named():
    """An upstream id that names no device fails the load, naming both ends of the edge."""
    data = _registry({"device_id": "a", "upstream": ["ghost"]})
    with pytest.raises(InventoryError, match=r"'a' has unknown upstream 'ghost'"):
        parse_inventory(data)


def test_upstream_cycle_is_rejected_with_the_cycle_spelled_out():
    """A dependency cycle fails the load and the message shows the loop."""
    data = _registry(
        {"device_id": "a", "upstream": ["b"]},
        {"device_id": "b", "upstream": ["c"]},
        {"device_id": "c", "upstream": ["a"]},
    )
    with pytest.raises(InventoryError, match=r"upstream cycle: a -> b -> c -> a"):
        parse_inventory(data)


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ({"device_id": "a", "kind": "toaster"}, "kind 'toaster'"),
        ({"device_id": "a", "criticality": "urgent"}, "criticality 'urgent'"),
        ({"device_id": "A B"}, "lowercase identifier"),
        ({"device_id": "a", "mgmt_ip": "10.0.0.300"}, "not an IP address"),
        ({"device_id": "a", "upstream": ["a"]}, "its own upstream"),
        ({"device_id": "a", "colour": "red"}, "unknown field"),
    ],
)
def test_malformed_devices_are_rejected(device, message):
    """Each malformed device field fails the load with a message that says which."""
    with pytest.raises(InventoryError, match=re.escape(message)):
        parse_inventory(_registry(device))


def test_a_device_needs_only_an_id_and_a_kind():
    """A hand-written registry that knows a device's role but not its make or address still loads:
    descriptive fields default to empty, criticality to medium, and devices without an address
    do not collide with each other."""
    inventory = parse_inventory({"ship_id": "s", "devices": [
        {"device_id": "fw-01", "kind": "firewall"},
        {"device_id": "sw-01", "kind": "access_switch", "upstream": ["fw-01"]},
    ]})
    firewall = inventory.by_id["fw-01"]
    assert (firewall.vendor, firewall.model, firewall.location, firewall.mgmt_ip) == ("", "", "", "")
    assert firewall.criticality == "medium"
    assert inventory.by_id["sw-01"].upstream == ("fw-01",)


def test_a_descriptive_field_of_the_wrong_type_is_rejected():
    with pytest.raises(InventoryError, match="field 'vendor' must be a string"):
        parse_inventory({"ship_id": "s", "devices": [{"device_id": "a", "kind": "server", "vendor": 3}]})


def test_duplicate_host_alias_is_rejected():
    """Two devices claiming the same syslog hostname would make host mapping ambiguous."""
    data = _registry(
        {"device_id": "a", "host_aliases": ["SW1"]}, {"device_id": "b", "host_aliases": ["sw1"]}
    )
    with pytest.raises(InventoryError, match="host alias 'sw1'"):
        parse_inventory(data)


# --- vendor formats ------------------------------------------------------------------------------

AT = datetime(2025, 3, 5, 9, 4, 5, 123000, tzinfo=UTC)
# (wire bytes, expected hostname, expected app name, expected severity)
VENDOR_LINES = [
    (
        vendors.cisco_ios(
            AT,
            facility_code="LINK",
            severity=3,
            mnemonic="UPDOWN",
            text="Interface Gi1/0/1, changed state to down",
            seq=42,
            hostname="AURORA-ACC-SW-01",
        ),
        "AURORA-ACC-SW-01",
        "LINK",
        3,
    ),
    (
        vendors.cisco_ios(
            AT,
            facility_code="SYS",
            severity=5,
            mnemonic="CONFIG_I",
            text="Configured from console by a.rossi on vty0",
            seq=7,
        ),
        None,
        "SYS",
        5,
    ),
    (
        vendors.fortigate(
            AT,
            devname="FGT-AURORA-01",
            devid="FG6H0E3919900101",
            logid="0100022011",
            log_type="event",
            subtype="system",
            severity=2,
            msg='Kernel enters "memory" conserve mode',
        ),
        "FGT-AURORA-01",
        "fortigate",
        2,
    ),
    (
        vendors.rfc3164(
            AT,
            host="crew-portal-01",
            program="sshd",
            pid=4242,
            severity=6,
            text="Accepted publickey for a.rossi from 10.10.0.50 port 50000 ssh2",
            facility=vendors.AUTH,
        ),
        "crew-portal-01",
        "sshd",
        6,
    ),
    (
        vendors.rfc5424(
            AT,
            host="pos-gw-01",
            app="caps",
            severity=3,
            text="payment gateway timeout",
            procid=4411,
            msgid="TXN",
            structured={"txn@32473": {"terminal": "pos-term-01", "note": 'a "quoted] \\value'}},
        ),
        "pos-gw-01",
        "caps",
        3,
    ),
    (
        vendors.satellite_modem(
            AT, host="vsat-modem-01", severity=3, text="RX lock lost, Es/No=2.1dB C/N=3.0dB"
        ),
        "vsat-modem-01",
        "modem",
        3,
    ),
    (
        vendors.aireos_wlc(
            AT,
            host="WLC-AURORA-01",
            task="apfMsConnTask_0",
            facility_code="APF",
            severity=6,
            mnemonic="MOBILE_ASSOC",
            text="Client 3c:22:fb:00:11:22 associated",
        ),
        "WLC-AURORA-01",
        "APF",
        6,
    ),
]


@pytest.mark.parametrize(("line", "hostname", "app", "severity"), VENDOR_LINES)
def test_vendor_lines_are_valid_syslog_with_the_right_pri(line, hostname, app, severity):
    """Every vendor format starts with a PRI in 0..191 whose severity is the line's own."""
    pri = pri_of(line)
    assert 0 <= pri <= 191
    assert pri % 8 == severity
    assert pri // 8 in range(24)
    assert b"\n" not in line


@pytest.mark.parametrize(("line", "hostname", "app", "severity"), VENDOR_LINES)
def test_ingest_parser_reads_hostname_app_and_severity(line, hostname, app, severity):
    """The ingest parser recovers hostname, app, severity, and the timestamp to the second."""
    syslog = pytest.importorskip("services.ingest.syslog")
    parsed = syslog.parse_syslog(line, received_at=AT)
    assert parsed.hostname == hostname
    assert parsed.app_name == app
    assert parsed.severity == severity
    assert abs(parsed.timestamp - AT) < timedelta(seconds=1)


def test_rfc5424_structured_data_survives_escaping():
    """Quotes, brackets and backslashes in SD values are escaped so the parser gets them back."""
    syslog = pytest.importorskip("services.ingest.syslog")
    parsed = syslog.parse_syslog(VENDOR_LINES[4][0], received_at=AT)
    assert parsed.structured_data["txn@32473"]["note"] == 'a "quoted] \\value'
    assert parsed.message == "payment gateway timeout"


def test_pri_rejects_out_of_range_facility_and_severity():
    """PRI arithmetic refuses values the RFCs do not allow instead of emitting a bad line."""
    assert vendors.pri(23, 7) == 191
    with pytest.raises(ValueError):
        vendors.pri(24, 0)
    with pytest.raises(ValueError):
        vendors.pri(0, 8)


# --- scenarios ---------------------------------------------------------------------------------


def test_scenario_catalogue_lists_background_every_fault_and_mixed():
    """SCENARIOS names background, each fault and mixed, each with a one-line description."""
    assert set(SCENARIOS) == {"background", "mixed", *EXPECTED_LABELS}
    assert all(description and "\n" not in description for description in SCENARIOS.values())


@pytest.mark.parametrize("name", sorted(EXPECTED_LABELS))
def test_fault_labels_match_the_ground_truth(name):
    """Each fault carries its expected incident type and root device, valid by the conventions."""
    scenario = build_scenario(name, start=START, duration_s=SINGLE_FAULT_S)
    (fault,) = scenario.faults
    assert (fault.expected_incident_type, fault.root_device) == EXPECTED_LABELS[name]
    assert IncidentType(fault.expected_incident_type)
    assert fault.devices[0] == fault.root_device
    assert set(fault.devices) <= set(scenario.inventory.by_id)
    assert START < fault.start < fault.end <= scenario.end


@pytest.mark.parametrize("name", sorted(EXPECTED_LABELS))
def test_fault_events_fall_inside_the_fault_window(name):
    """Every event labelled with a fault lies in its window, on its devices, with its signature."""
    (fault,) = build_scenario(name, start=START, duration_s=SINGLE_FAULT_S).faults
    labelled = [e for e in events_of(name) if e.fault is not None]
    assert labelled
    assert {e.fault for e in labelled} == {name}
    assert all(fault.start <= e.at <= fault.end for e in labelled)
    assert {e.device_id for e in labelled} == set(fault.devices)
    assert any(SIGNATURES[name] in text_of(e) for e in labelled if e.kind == "syslog")


def test_mixed_spreads_every_fault_without_overlap():
    """The mixed scenario holds each fault once, in disjoint windows, with events in each."""
    scenario = build_scenario("mixed", start=START, duration_s=MIXED_S)
    faults = sorted(scenario.faults, key=lambda f: f.start)
    assert {f.name for f in faults} == set(EXPECTED_LABELS)
    assert all(a.end < b.start for a, b in itertools.pairwise(faults))
    by_fault = Counter(e.fault for e in events_of("mixed"))
    assert all(by_fault[f.name] > 0 for f in faults)
    windows = {f.name: f for f in faults}
    assert all(
        windows[e.fault].start <= e.at <= windows[e.fault].end
        for e in events_of("mixed")
        if e.fault
    )


def test_a_long_mixed_run_repeats_every_fault_each_hour_and_streams_lazily():
    """A week-long mixed run (a demo left on) cycles through the faults hourly, lazily."""
    week = build_scenario("mixed", start=START, duration_s=7 * 24 * 3600)
    assert len(week.faults) == 7 * 24 * len(EXPECTED_LABELS)
    first_hour = [f for f in week.faults if f.start < START + timedelta(hours=1)]
    assert {f.name for f in first_hour} == set(EXPECTED_LABELS)
    assert all(a.end < b.start for a, b in itertools.pairwise(week.faults))
    head = list(itertools.islice(week.events(), 20_000))
    assert head[-1].at < START + timedelta(hours=1)


def test_a_single_fault_comes_within_ten_minutes_even_in_a_long_run():
    """A single-fault scenario left running starts its fault after a ten-minute lead-in at most."""
    (fault,) = build_scenario("pos_outage", start=START, duration_s=24 * 3600).faults
    assert fault.start - START == timedelta(minutes=10)


def test_scenarios_are_deterministic_per_seed():
    """The same seed gives identical events byte for byte; another seed gives different ones."""
    assert events_of("mixed", 7) == tuple(
        build_scenario("mixed", start=START, duration_s=MIXED_S, seed=7)
    )
    assert events_of("mixed", 7) != events_of("mixed", 8)


def test_events_are_time_ordered_and_inside_the_scenario():
    """Events come in non-decreasing time order, between the scenario's start and end."""
    events = events_of("mixed")
    assert all(a.at <= b.at for a, b in itertools.pairwise(events))
    assert events[0].at >= START and events[-1].at < START + timedelta(seconds=MIXED_S)


def test_background_has_no_fault_keywords_and_normal_metrics():
    """A healthy day has no fault label, no failure wording, no metric past a detect threshold."""
    events = events_of("background")
    assert not any(e.fault for e in events)
    for event in events:
        if event.kind == "syslog":
            line = text_of(event)
            assert not [k for k in FAULT_KEYWORDS if k.lower() in line.lower()], line
    limits = {
        "snr_db": (10, 99),
        "packet_loss_pct": (0, 1),
        "fw_sessions_pct": (0, 80),
        "dhcp_pool_pct": (0, 90),
        "dns_fail_pct": (0, 2),
        "disk_pct": (0, 85),
        "cpu_pct": (0, 80),
        "if_errors": (0, 10),
    }
    for event in events:
        if event.kind == "metric" and event.payload["metric"] in limits:
            low, high = limits[event.payload["metric"]]
            assert low <= event.payload["value"] <= high, event.payload


def test_background_rate_is_a_few_to_tens_of_lines_per_second():
    """The background logs a few to tens of lines per second and samples the VSAT every 10 s."""
    events = events_of("background")
    lines = sum(1 for e in events if e.kind == "syslog")
    assert 2 <= lines / SINGLE_FAULT_S <= 50
    vsat = [
        e
        for e in events
        if e.kind == "metric" and e.device_id == "vsat-modem-01" and e.payload["metric"] == "snr_db"
    ]
    assert len(vsat) == SINGLE_FAULT_S // 10
    assert all(11 <= e.payload["value"] <= 13 for e in vsat)


def test_starlink_reconfigures_every_15_seconds_as_normal():
    """Starlink's scheduled reconfiguration is logged at :12, :27, :42 and :57, unlabelled."""
    handoffs = [
        e for e in events_of("background") if e.device_id == "starlink-01" and e.kind == "syslog"
    ]
    assert len(handoffs) == SINGLE_FAULT_S // 15
    assert {e.at.second for e in handoffs} == {12, 27, 42, 57}
    assert all("scheduled reconfiguration" in text_of(e) for e in handoffs)


def test_every_syslog_line_parses_to_its_device_severity_and_time():
    """Every datagram parses to a host alias of its device, its PRI severity and its time."""
    syslog = pytest.importorskip("services.ingest.syslog")
    inv = load_inventory()
    for event in events_of("mixed"):
        if event.kind != "syslog":
            continue
        parsed = syslog.parse_syslog(event.payload, received_at=event.at)
        device = inv.resolve_host(parsed.hostname or "")
        assert device is not None and device.device_id == event.device_id, event
        assert parsed.severity == pri_of(event.payload) % 8
        assert abs(parsed.timestamp - event.at) < timedelta(seconds=1)
        assert parsed.app_name


def test_metric_payloads_validate_as_metric_samples():
    """Metric payloads hold exactly a client's MetricSample fields and validate once stamped."""
    fields = {"ship_id", "device_id", "metric", "value", "unit", "timestamp", "labels"}
    metrics = [e for e in events_of("mixed") if e.kind == "metric"]
    assert metrics
    for event in metrics[::7]:
        assert set(event.payload) == fields
        sample = MetricSample(
            **event.payload, tracking_id=str(uuid.uuid4()), ingestion_timestamp=event.at
        )
        assert sample.timestamp == event.at.replace(microsecond=event.at.microsecond // 1000 * 1000)
        assert sample.ship_id == "ms-aurora" and sample.device_id == event.device_id
        assert sample.unit == METRIC_UNITS[sample.metric]


def test_rain_fade_degrades_gradually_then_drops_the_carrier():
    """Rain fade takes SNR below 7 dB for minutes, the modem loses lock, payments time out."""
    events = events_of("rain_fade")
    snr = [e for e in events if e.kind == "metric" and e.payload["metric"] == "snr_db" and e.fault]
    below = [e for e in snr if e.payload["value"] < 7]
    assert len(below) * 10 >= 180
    assert snr[0].payload["value"] > 10  # it starts healthy: a fade, not a cliff
    lock_lost = next(e for e in events if e.fault and b"RX lock lost" in e.payload)
    timeouts = [
        e
        for e in events
        if e.fault and e.device_id == "pos-gw-01" and b"payment gateway timeout" in e.payload
    ]
    assert timeouts and below[0].at <= lock_lost.at


def test_modem_reboot_silences_the_modem_for_about_three_minutes():
    """While the modem reboots its readings stop for minutes and probes across it all fail."""
    (fault,) = build_scenario("modem_reboot", start=START, duration_s=SINGLE_FAULT_S).faults
    events = [e for e in events_of("modem_reboot") if e.kind == "metric"]
    snr = [
        e.at for e in events if e.device_id == "vsat-modem-01" and e.payload["metric"] == "snr_db"
    ]
    gap = max(b - a for a, b in itertools.pairwise(snr))
    assert timedelta(minutes=2.5) <= gap <= timedelta(minutes=4)
    assert any(fault.end - timedelta(minutes=1) <= at <= fault.end for at in snr)
    loss = [e for e in events if e.fault and e.payload["metric"] == "packet_loss_pct"]
    assert sum(e.payload["value"] == 100.0 for e in loss) * 10 >= 150


def test_speed_paces_the_replay_but_not_the_timestamps():
    """speed=60 makes a simulated minute one real second; event times stay simulated."""
    fast = build_scenario("background", start=START, duration_s=SINGLE_FAULT_S, speed=60)
    first_late = next(e for e in fast.events() if e.at >= START + timedelta(seconds=60))
    assert fast.wall_offset_s(first_late) == pytest.approx(
        (first_late.at - START).total_seconds() / 60
    )
    assert tuple(fast.events()) == events_of("background")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "meteor_strike", "start": START, "duration_s": 600}, "unknown scenario"),
        (
            {"name": "background", "start": START.replace(tzinfo=None), "duration_s": 600},
            "timezone-aware",
        ),
        ({"name": "background", "start": START, "duration_s": 0}, "positive"),
        ({"name": "mixed", "start": START, "duration_s": 300}, "longer duration"),
    ],
)
def test_build_scenario_rejects_bad_arguments(kwargs, message):
    """Unknown names, naive start times, empty or too-short durations fail with a clear message."""
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=message):
        build_scenario(name, **kwargs)


def test_every_fault_is_registered_once():
    """The fault registry and the labels table describe the same ten faults."""
    assert set(FAULTS) == set(EXPECTED_LABELS)
