"""Correlation logic (services.correlation.handlers) on in-memory topology and state."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from aiops_core.bus import decode, encode
from aiops_core.devices import Device, DeviceRegistry
from aiops_core.models import (
    EnrichedAnomaly,
    Incident,
    IncidentChange,
    IncidentStatus,
    IncidentType,
    Severity,
    new_tracking_id,
)
from aiops_core.policy import CorrelatePolicy, MaintenanceWindow, load_policy
from services.correlation.fingerprint import fingerprint_of, is_downstream_symptom
from services.correlation.handlers import Correlated, Correlator, incident_change
from services.correlation.state import CorrelationState, IncidentState, Meta
from services.correlation.topology import Topology

POLICIES = Path(__file__).resolve().parents[2] / "policies"
SHIP = "ms-aurora"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

# The real ship's WAN path: acu-01 <- vsat-modem-01 <- core-rtr-01 <- fw-01 <- servers behind it.
DEVICES = [
    Device(SHIP, "acu-01", kind="antenna_controller"),
    Device(SHIP, "vsat-modem-01", kind="vsat_modem", upstream=("acu-01",)),
    Device(SHIP, "core-rtr-01", kind="core_router", upstream=("vsat-modem-01",)),
    Device(SHIP, "fw-01", kind="firewall", upstream=("core-rtr-01",)),
    Device(SHIP, "pos-gw-01", kind="pos", upstream=("fw-01",)),
    Device(SHIP, "res-app-01", kind="reservations", upstream=("fw-01",)),
    Device(SHIP, "crew-portal-01", kind="app_server", upstream=("fw-01",)),
    Device(SHIP, "pos-term-01", kind="pos", upstream=("pos-gw-01",)),
    Device(SHIP, "pos-term-02", kind="pos", upstream=("pos-gw-01",)),
]


@pytest.fixture(scope="module")
def policy() -> CorrelatePolicy:
    return load_policy(POLICIES).correlate


def with_suppression(policy: CorrelatePolicy, **changes) -> CorrelatePolicy:
    return policy.model_copy(update={"suppression": policy.suppression.model_copy(update=changes)})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def correlator(policy: CorrelatePolicy, state: CorrelationState | None = None) -> Correlator:
    topology = Topology(DeviceRegistry.of(DEVICES), policy.topology.max_hops)
    return Correlator(policy, topology, Clock(), state)


def anomaly(
    device: str,
    incident_type: IncidentType | str,
    at: float = 0.0,
    *,
    severity: Severity | str = Severity.MEDIUM,
    message: str = "",
    template: str | None = None,
    template_id: str | None = None,
    ship: str = SHIP,
) -> EnrichedAnomaly:
    when = T0 + timedelta(seconds=at)
    return EnrichedAnomaly(
        tracking_id=new_tracking_id(),
        ship_id=ship,
        anomaly_id=str(uuid.uuid4()),
        device_id=device,
        detector="log_pattern",
        incident_type=IncidentType(incident_type),
        severity=Severity(severity),
        score=0.9,
        template=template,
        template_id=template_id,
        message=message or f"{incident_type} on {device}",
        detected_at=when,
        ingestion_timestamp=when,
        event_timestamp=when,
    )


def published(result: Correlated | None, trigger: EnrichedAnomaly) -> IncidentChange:
    """The change exactly as consumers decode it from the bus (validates every field)."""
    assert result is not None
    return decode("incidents.updated", encode(incident_change(result, trigger)))  # type: ignore[return-value]


def feed(c: Correlator, anomalies: list[EnrichedAnomaly]) -> list[IncidentChange]:
    return [published(c.correlate(a), a) for a in anomalies]


def status_change(incident: Incident, status: IncidentStatus, at: datetime, *, version_bump: int = 1) -> IncidentChange:
    changed = incident.model_copy(update={"status": status, "updated_at": at, "version": incident.version + version_bump})
    return IncidentChange(change="status", incident=changed, actor="officer")


def persisted_copy(c: Correlator) -> CorrelationState:
    """What the KV bucket would hold: every incident and the meta document through JSON."""
    return CorrelationState(
        incidents={i.incident_id: IncidentState.from_json(i.to_json()) for i in c.incidents.values()},
        meta=Meta.from_json(c.meta.to_json()),
    )


POS_TIMEOUT = "payment gateway timeout: connection to acquirer timed out after 30s"


# --- fingerprint -------------------------------------------------------------------------------


def test_fingerprint_is_ship_family_and_root_device():
    """The fingerprint joins ship, type family and root device; link types share a family."""
    assert fingerprint_of(SHIP, "link_degradation", "vsat-modem-01") == "ms-aurora:link:vsat-modem-01"
    assert fingerprint_of(SHIP, "comms_outage", "vsat-modem-01") == "ms-aurora:link:vsat-modem-01"
    assert fingerprint_of(SHIP, "auth_failure", "vsat-modem-01") == "ms-aurora:security:vsat-modem-01"
    assert fingerprint_of("ms-boreal", "link_degradation", "vsat-modem-01") != fingerprint_of(
        SHIP, "link_degradation", "vsat-modem-01"
    )


def test_only_connectivity_symptoms_count_as_downstream_symptoms():
    """App timeouts are link symptoms; an expired certificate or an auth failure never is."""
    assert is_downstream_symptom("app_degradation", POS_TIMEOUT)
    assert is_downstream_symptom("network_issue", "BGP neighbor down")
    assert not is_downstream_symptom("app_degradation", "certificate expired for pos.aurora.local")
    assert not is_downstream_symptom("auth_failure", "Failed password for root: connection timed out")
    assert not is_downstream_symptom("resource_pressure", "disk full")


# --- dedup and windows -------------------------------------------------------------------------


def test_fifty_anomalies_of_one_fault_are_one_incident_with_growing_versions(policy):
    """50 anomalies of one fault give one created then 49 updates, same id, versions 1..50."""
    c = correlator(policy)
    batch = [anomaly("vsat-modem-01", "link_degradation", at=10 * n, template_id=f"t{n % 3}") for n in range(50)]
    changes = feed(c, batch)
    assert [ch.change for ch in changes] == ["created"] + ["updated"] * 49
    assert {ch.incident.incident_id for ch in changes} == {changes[0].incident.incident_id}
    assert [ch.incident.version for ch in changes] == list(range(1, 51))
    last = changes[-1].incident
    assert last.anomaly_count == 50
    assert last.tracking_ids == [a.tracking_id for a in batch]
    assert last.first_seen == T0 and last.last_seen == T0 + timedelta(seconds=490)
    assert last.fingerprint == "ms-aurora:link:vsat-modem-01"
    assert changes[-1].trigger.anomaly_id == batch[-1].anomaly_id


def test_message_caps_keep_the_most_recent_entries(policy):
    """tracking_ids keep the latest 200, evidence 50 signatures, timeline the latest 100 events."""
    c = correlator(policy)
    batch = [anomaly("core-rtr-01", "network_issue", at=n, template_id=f"tpl-{n}") for n in range(300)]
    last = feed(c, batch)[-1].incident
    assert last.anomaly_count == 300
    assert last.tracking_ids == [a.tracking_id for a in batch[-200:]]
    assert len(last.evidence) == 50 and last.evidence[-1]["anomaly_id"] == batch[-1].anomaly_id
    assert len(last.timeline) == 100 and last.timeline[-1].tracking_id == batch[-1].tracking_id


def test_repeat_within_dedup_ttl_is_counted_without_a_timeline_entry(policy):
    """The same device/type/template within dedup_ttl_seconds is 'deduplicated'; after it, 'updated'."""
    c = correlator(policy)
    first = c.correlate(anomaly("fw-01", "network_issue", 0, template_id="if-down"))
    repeat = c.correlate(anomaly("fw-01", "network_issue", 60, template_id="if-down"))
    later = c.correlate(anomaly("fw-01", "network_issue", 60 + policy.dedup_ttl_seconds + 1, template_id="if-down"))
    assert (first.label, repeat.label, later.label) == ("created", "deduplicated", "updated")
    assert len(repeat.incident.timeline) == len(first.incident.timeline)
    assert len(later.incident.timeline) == len(first.incident.timeline) + 1
    assert later.incident.anomaly_count == 3
    assert later.incident.evidence[0]["count"] == 3


def test_anomaly_after_the_type_window_opens_a_new_incident(policy):
    """An anomaly later than last_seen + the type's window opens a new incident; inside it joins."""
    window = policy.windows.seconds_for("auth_failure")
    c = correlator(policy)
    first = c.correlate(anomaly("res-app-01", "auth_failure", 0))
    inside = c.correlate(anomaly("res-app-01", "auth_failure", window - 1))
    # The window runs from last_seen, so a steady trickle keeps one incident alive.
    still = c.correlate(anomaly("res-app-01", "auth_failure", 2 * window - 2))
    after = c.correlate(anomaly("res-app-01", "auth_failure", 3 * window))
    assert inside.incident.incident_id == still.incident.incident_id == first.incident.incident_id
    assert after.change == "created" and after.incident.incident_id != first.incident.incident_id


def test_windows_differ_per_incident_type(policy):
    """comms_outage's 1800 s window keeps an incident that auth_failure's 600 s would have closed."""
    c = correlator(policy)
    first = c.correlate(anomaly("vsat-modem-01", "comms_outage", 0))
    joined = c.correlate(anomaly("vsat-modem-01", "comms_outage", 1500))
    assert joined.incident.incident_id == first.incident.incident_id
    auth = c.correlate(anomaly("res-app-01", "auth_failure", 0))
    separate = c.correlate(anomaly("res-app-01", "auth_failure", 1500))
    assert separate.incident.incident_id != auth.incident.incident_id


def test_max_incident_age_caps_absorption(policy):
    """An incident older than max_incident_age_seconds stops absorbing even inside its window."""
    c = correlator(policy)
    step = policy.windows.seconds_for("power_or_hardware") - 60
    first = c.correlate(anomaly("core-rtr-01", "power_or_hardware", 0))
    ids = {first.incident.incident_id}
    at = 0
    while at + step <= policy.max_incident_age_seconds:
        at += step
        ids.add(c.correlate(anomaly("core-rtr-01", "power_or_hardware", at)).incident.incident_id)
    assert ids == {first.incident.incident_id}
    aged = c.correlate(anomaly("core-rtr-01", "power_or_hardware", policy.max_incident_age_seconds + 1))
    assert aged.change == "created" and aged.incident.incident_id not in ids


def test_expired_incidents_leave_memory_and_are_reported_for_deletion(policy):
    """expire() evicts incidents past their window (as of the newest anomaly) for deletion from KV."""
    c = correlator(policy)
    old = c.correlate(anomaly("res-app-01", "auth_failure", 0)).incident
    c.correlate(anomaly("vsat-modem-01", "comms_outage", policy.windows.seconds_for("auth_failure") + 10))
    assert c.expire() == [old.incident_id]
    assert old.incident_id not in c.incidents
    assert c.pending().evicted == (old.incident_id,)


# --- severity ------------------------------------------------------------------------------------


def test_severity_is_the_max_of_anomalies_plus_policy_escalation(policy):
    """Incident severity is its worst anomaly, raised by severity_map rules that apply."""
    c = correlator(policy)
    low = c.correlate(anomaly("fw-01", "network_issue", 0, severity="low", template_id="a"))
    high = c.correlate(anomaly("fw-01", "network_issue", 1, severity="high", template_id="b"))
    medium = c.correlate(anomaly("fw-01", "network_issue", 2, severity="medium", template_id="c"))
    assert (low.incident.severity, high.incident.severity, medium.incident.severity) == ("low", "high", "high")
    # many-anomalies: twenty anomalies raise one more level.
    for n in range(17):
        result = c.correlate(anomaly("fw-01", "network_issue", 3 + n, severity="low", template_id="a"))
    assert result.incident.anomaly_count == 20 and result.incident.severity == Severity.CRITICAL
    # satellite-link-degradation: a link incident rooted at a VSAT modem is at least high.
    sat = correlator(policy).correlate(anomaly("vsat-modem-01", "link_degradation", 0, severity="low"))
    assert sat.incident.severity == Severity.HIGH
    assert any(e.kind == "escalated" and "satellite-link-degradation" in e.summary for e in sat.incident.timeline)


# --- topology ------------------------------------------------------------------------------------


def test_symptoms_behind_the_vsat_modem_join_its_incident(policy):
    """Modem fault first, then firewall and POS symptoms: one incident rooted at the modem."""
    c = correlator(policy)
    modem = c.correlate(anomaly("vsat-modem-01", "link_degradation", 0, message="Rx SNR 4.1 dB below threshold"))
    fw = c.correlate(anomaly("fw-01", "network_issue", 20, message="ipsec tunnel shore-1 down"))
    pos = c.correlate(anomaly("pos-gw-01", "app_degradation", 40, message=POS_TIMEOUT))
    assert modem.incident.incident_id == fw.incident.incident_id == pos.incident.incident_id
    final = pos.incident
    assert (fw.how, pos.how) == ("topology", "topology")
    assert final.root_cause_device == "vsat-modem-01"
    assert final.fingerprint == "ms-aurora:link:vsat-modem-01"
    assert final.affected_devices == ["vsat-modem-01", "fw-01", "pos-gw-01"]
    assert "pos-gw-01 -> fw-01 -> core-rtr-01 -> vsat-modem-01" in final.root_cause_reason
    assert final.incident_type == IncidentType.LINK_DEGRADATION
    assert final.title == "Link degradation on vsat-modem-01 affecting 2 more devices"


def test_upstream_fault_reported_last_reroots_the_symptom_incident(policy):
    """POS timeout first, then firewall, then modem: the same incident ends rooted at the modem."""
    c = correlator(policy)
    pos = c.correlate(anomaly("pos-gw-01", "app_degradation", 0, message=POS_TIMEOUT))
    assert pos.incident.root_cause_device == "pos-gw-01"
    fw = c.correlate(anomaly("fw-01", "network_issue", 20, message="ipsec tunnel shore-1 down"))
    assert fw.how == "rerooted" and fw.incident.root_cause_device == "fw-01"
    modem = c.correlate(anomaly("vsat-modem-01", "link_degradation", 40, message="Rx SNR 4.1 dB"))
    assert modem.how == "rerooted"
    assert pos.incident.incident_id == fw.incident.incident_id == modem.incident.incident_id
    final = modem.incident
    assert (final.root_cause_device, final.fingerprint) == ("vsat-modem-01", "ms-aurora:link:vsat-modem-01")
    assert final.incident_type == IncidentType.LINK_DEGRADATION
    assert final.root_cause_reason.startswith("re-rooted from fw-01 to vsat-modem-01")
    assert set(final.affected_devices) == {"pos-gw-01", "fw-01", "vsat-modem-01"}
    assert [e.kind for e in final.timeline].count("rerooted") == 2
    # The fingerprint mapping moved with the root: the next POS timeout and modem alarm join it.
    again = c.correlate(anomaly("pos-gw-01", "app_degradation", 60, message=POS_TIMEOUT))
    modem_again = c.correlate(anomaly("vsat-modem-01", "comms_outage", 80, message="carrier lost"))
    assert again.incident.incident_id == modem_again.incident.incident_id == final.incident_id
    assert modem_again.incident.incident_type == IncidentType.COMMS_OUTAGE


def test_auth_failure_behind_the_firewall_is_not_swallowed_by_the_link_incident(policy):
    """An SSH brute force on a server behind the modem is its own incident, never a link symptom."""
    c = correlator(policy)
    link = c.correlate(anomaly("vsat-modem-01", "comms_outage", 0))
    auth = c.correlate(anomaly("res-app-01", "auth_failure", 10, message="Failed password for root from 10.20.1.5"))
    cert = c.correlate(anomaly("pos-gw-01", "app_degradation", 20, message="certificate expired for pos.aurora.local"))
    assert auth.change == "created" and auth.incident.incident_id != link.incident.incident_id
    assert auth.incident.root_cause_device == "res-app-01"
    assert auth.incident.fingerprint == "ms-aurora:security:res-app-01"
    assert cert.change == "created" and cert.incident.incident_id != link.incident.incident_id


def test_upstream_fault_does_not_reroot_an_incident_with_unrelated_anomalies(policy):
    """An incident holding a non-symptom anomaly keeps its root when the modem reports later."""
    c = correlator(policy)
    pos = c.correlate(anomaly("pos-gw-01", "app_degradation", 0, message=POS_TIMEOUT))
    c.correlate(anomaly("pos-gw-01", "app_degradation", 5, message="certificate expired for pos.aurora.local"))
    modem = c.correlate(anomaly("vsat-modem-01", "link_degradation", 10))
    assert modem.change == "created" and modem.incident.incident_id != pos.incident.incident_id
    assert c.incidents[pos.incident.incident_id].root_cause_device == "pos-gw-01"


def test_topology_can_be_switched_off_by_policy(policy):
    """With topology disabled, each device keeps its own incident."""
    off = policy.model_copy(update={"topology": policy.topology.model_copy(update={"enabled": False})})
    c = correlator(off)
    modem = c.correlate(anomaly("vsat-modem-01", "link_degradation", 0))
    pos = c.correlate(anomaly("pos-gw-01", "app_degradation", 5, message=POS_TIMEOUT))
    assert pos.change == "created" and pos.incident.incident_id != modem.incident.incident_id


# --- suppression, storm, flapping ---------------------------------------------------------------


def test_maintenance_window_suppresses_but_keeps_the_incident(policy):
    """An anomaly in a maintenance window opens a suppressed incident naming the window; a later
    anomaly outside it reopens the incident."""
    window = MaintenanceWindow(
        name="port-call-fw-upgrade", ship_id=SHIP, devices=("fw-*",), start=T0, end=T0 + timedelta(minutes=5)
    )
    c = correlator(with_suppression(policy, maintenance_windows=(window,)))
    during = c.correlate(anomaly("fw-01", "network_issue", 60))
    assert during.label == "suppressed"
    assert during.incident.status == IncidentStatus.SUPPRESSED
    assert during.incident.suppressed_by == "maintenance:port-call-fw-upgrade"
    after = c.correlate(anomaly("fw-01", "network_issue", 400))
    assert after.incident.incident_id == during.incident.incident_id
    assert (after.incident.status, after.incident.suppressed_by) == (IncidentStatus.OPEN, None)
    other = c.correlate(anomaly("core-rtr-01", "network_issue", 60))
    assert other.incident.status == IncidentStatus.OPEN


def test_suppression_rules_suppress_or_downgrade(policy):
    """The lab rule suppresses lab devices; the guest Wi-Fi rule lowers severity one level."""
    c = correlator(policy)
    lab = c.correlate(anomaly("lab-switch-03", "network_issue", 0))
    assert (lab.label, lab.incident.status, lab.incident.suppressed_by) == (
        "suppressed", IncidentStatus.SUPPRESSED, "rule:it-workshop-lab",
    )
    noise = c.correlate(anomaly(
        "wlc-01", "network_issue", 0, severity="medium",
        template="Client <*> association failed: <*>", message="Client aa:bb association failed: auth timeout",
    ))
    assert noise.incident.status == IncidentStatus.OPEN and noise.incident.severity == Severity.LOW
    assert any(e.kind == "downgraded" for e in noise.incident.timeline)


def test_suppressed_anomaly_does_not_hide_an_open_incident(policy):
    """A suppressed anomaly joining an open incident is recorded but the incident stays open."""
    window = MaintenanceWindow(name="fw-work", devices=("fw-*",), start=T0 + timedelta(seconds=30), end=T0 + timedelta(hours=1))
    c = correlator(with_suppression(policy, maintenance_windows=(window,)))
    c.correlate(anomaly("vsat-modem-01", "comms_outage", 0))
    fw = c.correlate(anomaly("fw-01", "network_issue", 60))
    assert fw.label == "suppressed" and fw.incident.status == IncidentStatus.OPEN
    assert fw.incident.suppressed_by is None and fw.incident.anomaly_count == 2
    assert any(e.kind == "suppressed" and e.device_id == "fw-01" for e in fw.incident.timeline)


def test_incident_storm_folds_new_incidents_into_one(policy):
    """Beyond max_new_incidents_per_minute, new incidents fold into one storm incident."""
    limit = policy.suppression.storm.max_new_incidents_per_minute
    c = correlator(policy)
    results = [c.correlate(anomaly(f"cabin-ap-{n:02d}", "network_issue", n)) for n in range(limit + 5)]
    created = [r for r in results if r.change == "created"]
    assert len(created) == limit + 1
    storm = results[limit].incident
    assert results[limit].how == "storm" and "storm" in storm.title.lower()
    assert {r.incident.incident_id for r in results[limit:]} == {storm.incident_id}
    assert results[-1].incident.anomaly_count == 5 and len(results[-1].incident.affected_devices) == 5
    # A folded fingerprint's next anomaly joins the storm without counting as a new incident.
    repeat = c.correlate(anomaly(f"cabin-ap-{limit + 1:02d}", "network_issue", 50))
    assert repeat.incident.incident_id == storm.incident_id and repeat.how == "fingerprint"
    assert len(c.meta.new_incidents[SHIP]) == limit + 5
    # Once the rate drops, incidents open normally again.
    calm = c.correlate(anomaly("cabin-ap-99", "network_issue", 200))
    assert calm.change == "created" and calm.incident.incident_id != storm.incident_id


def test_resolved_incident_stops_absorbing_and_acknowledged_keeps_absorbing(policy):
    """Acknowledged keeps absorbing; after resolve the next anomaly opens a new incident."""
    c = correlator(policy)
    first = c.correlate(anomaly("fw-01", "network_issue", 0)).incident
    assert c.apply_status(status_change(first, IncidentStatus.ACKNOWLEDGED, T0 + timedelta(seconds=10)))
    acked = c.correlate(anomaly("fw-01", "network_issue", 20)).incident
    assert acked.incident_id == first.incident_id and acked.status == IncidentStatus.ACKNOWLEDGED
    # The operator's version bump is outranked by the next update.
    assert acked.version == first.version + 2
    assert c.apply_status(status_change(acked, IncidentStatus.RESOLVED, T0 + timedelta(seconds=30)))
    after = c.correlate(anomaly("fw-01", "network_issue", 40))
    assert after.change == "created" and after.incident.incident_id != first.incident_id


def test_stale_or_unknown_status_changes_are_ignored(policy):
    """An older operator status than the one applied, or an unknown incident, changes nothing."""
    c = correlator(policy)
    incident = c.correlate(anomaly("fw-01", "network_issue", 0)).incident
    assert c.apply_status(status_change(incident, IncidentStatus.ACKNOWLEDGED, T0 + timedelta(seconds=20)))
    assert not c.apply_status(status_change(incident, IncidentStatus.RESOLVED, T0 + timedelta(seconds=10)))
    assert c.incidents[incident.incident_id].status == IncidentStatus.ACKNOWLEDGED
    unknown = incident.model_copy(update={"incident_id": str(uuid.uuid4())})
    assert not c.apply_status(status_change(unknown, IncidentStatus.RESOLVED, T0 + timedelta(seconds=30)))


def test_operator_suppression_survives_new_anomalies(policy):
    """An incident the operator suppressed stays suppressed, by the operator, as anomalies arrive."""
    c = correlator(policy)
    incident = c.correlate(anomaly("fw-01", "network_issue", 0)).incident
    c.apply_status(status_change(incident, IncidentStatus.SUPPRESSED, T0 + timedelta(seconds=5)))
    later = c.correlate(anomaly("fw-01", "network_issue", 10)).incident
    assert (later.status, later.suppressed_by) == (IncidentStatus.SUPPRESSED, "operator:officer")


def test_incident_that_keeps_resolving_and_reopening_is_held_as_flapping(policy):
    """After `transitions` open/resolve flips in the window the incident is reopened, not recreated."""
    c = correlator(policy)
    ids = []
    at = 0
    for _ in range(2):
        result = c.correlate(anomaly("core-rtr-01", "network_issue", at))
        assert result.change == "created"
        ids.append(result.incident.incident_id)
        c.apply_status(status_change(result.incident, IncidentStatus.RESOLVED, T0 + timedelta(seconds=at + 30)))
        at += 60
    flapping = c.correlate(anomaly("core-rtr-01", "network_issue", at))
    assert flapping.change == "updated" and flapping.how == "reopened"
    assert flapping.incident.incident_id == ids[-1]
    assert (flapping.incident.status, flapping.incident.suppressed_by) == (IncidentStatus.SUPPRESSED, "flapping")
    assert flapping.incident.title.startswith("Flapping: ")
    assert any(e.kind == "flapping" for e in flapping.incident.timeline)


def test_device_toggling_up_and_down_marks_its_incident_flapping(policy):
    """A device whose anomalies say down/up/down/up... marks its incident flapping once."""
    c = correlator(policy)
    results = [
        c.correlate(anomaly(
            "core-rtr-01", "network_issue", 10 * n, template_id=f"if-{n % 2}",
            message=f"Interface Gi0/1, changed state to {'down' if n % 2 == 0 else 'up'}",
        ))
        for n in range(6)
    ]
    needed = policy.suppression.flapping.transitions
    assert not results[needed - 1].incident.title.startswith("Flapping")
    assert results[needed].incident.title.startswith("Flapping: ")
    assert [e.kind for e in results[-1].incident.timeline].count("flapping") == 1
    assert len({r.incident.incident_id for r in results}) == 1


# --- idempotency and restart ---------------------------------------------------------------------


def test_redelivered_anomaly_is_not_counted_again(policy):
    """An anomaly_id already absorbed yields nothing and leaves the count alone."""
    c = correlator(policy)
    a = anomaly("fw-01", "network_issue", 0)
    first = c.correlate(a)
    assert c.correlate(a) is None
    assert c.incidents[first.incident.incident_id].anomaly_count == 1
    # Still recognised after a restart from the persisted state.
    restarted = correlator(policy, persisted_copy(c))
    assert restarted.correlate(a) is None


def test_redelivery_after_crash_before_persist_repeats_ids_and_versions(policy):
    """Replaying a batch on the state persisted before it gives the same incident ids and versions."""
    c = correlator(policy)
    c.correlate(anomaly("vsat-modem-01", "link_degradation", 0))
    before = persisted_copy(c)
    batch = [
        anomaly("vsat-modem-01", "link_degradation", 10),
        anomaly("pos-gw-01", "app_degradation", 20, message=POS_TIMEOUT),
        anomaly("res-app-01", "auth_failure", 30),
    ]
    first = [(r.change, r.incident.incident_id, r.incident.version) for r in map(c.correlate, batch)]
    replayed = correlator(policy, before)
    again = [(r.change, r.incident.incident_id, r.incident.version) for r in map(replayed.correlate, batch)]
    assert again == first
    assert first[2][0] == "created"


def test_restart_from_persisted_state_continues_the_same_incidents(policy):
    """Incidents, aliases and counters survive a JSON round trip; the next anomaly updates the same incident."""
    c = correlator(policy)
    pos = c.correlate(anomaly("pos-gw-01", "app_degradation", 0, message=POS_TIMEOUT)).incident
    c.correlate(anomaly("vsat-modem-01", "link_degradation", 10))
    restored = correlator(policy, persisted_copy(c))
    assert restored.incidents.keys() == c.incidents.keys()
    nxt = restored.correlate(anomaly("fw-01", "network_issue", 20, message="ipsec tunnel shore-1 down"))
    assert nxt.change == "updated" and nxt.incident.incident_id == pos.incident_id
    assert nxt.incident.version == 3 and nxt.incident.root_cause_device == "vsat-modem-01"
    assert restored.meta.transitions == c.meta.transitions


def test_pending_tracks_what_changed_until_persisted(policy):
    """pending() lists changed incidents and meta; persisted() clears exactly those."""
    c = correlator(policy)
    incident = c.correlate(anomaly("fw-01", "network_issue", 0)).incident
    pending = c.pending()
    assert [i.incident_id for i in pending.incidents] == [incident.incident_id] and pending.meta is not None
    c.persisted(pending)
    assert not c.pending()
    c.correlate(anomaly("fw-01", "network_issue", 5))
    assert [i.incident_id for i in c.pending().incidents] == [incident.incident_id]


def test_severity_map_is_applied_once_not_on_top_of_enrichment(policy):
    """An anomaly enrichment already raised (original_severity kept) is escalated once, at incident level."""
    corr = correlator(policy)
    result = None
    for i in range(25):
        a = anomaly("crew-portal-01", IncidentType.AUTH_FAILURE, at=i, severity=Severity.HIGH, template_id="t-ssh")
        # Enrichment raised medium -> high for many anomalies; correlation must start from medium.
        a = a.model_copy(update={"original_severity": Severity.MEDIUM})
        result = corr.correlate(a) or result
    assert result.incident.anomaly_count == 25
    assert result.incident.severity == Severity.HIGH


def test_untyped_anomaly_joins_the_devices_open_incident(policy):
    """A severity/new-template verdict (type unknown) on a device with an open incident is more of it."""
    corr = correlator(policy)
    first = corr.correlate(anomaly("core-rtr-01", IncidentType.NETWORK_ISSUE, at=0, message="BGP neighbor down"))
    joined = corr.correlate(anomaly("core-rtr-01", IncidentType.UNKNOWN, at=5, message="%SYS-3-CPUHOG task ran 2000 ms"))
    assert joined.incident.incident_id == first.incident.incident_id
    assert joined.incident.incident_type == IncidentType.NETWORK_ISSUE
    assert joined.incident.anomaly_count == 2


def test_typed_anomaly_names_an_untyped_incident(policy):
    """Untyped anomalies first, then a typed one on the same device: one incident, with that type."""
    corr = correlator(policy)
    first = corr.correlate(anomaly("res-app-01", IncidentType.UNKNOWN, at=0, message="worker exited with code 137"))
    typed = corr.correlate(anomaly("res-app-01", IncidentType.RESOURCE_PRESSURE, at=3, message="Out of memory: Killed process"))
    assert typed.incident.incident_id == first.incident.incident_id
    assert typed.incident.incident_type == IncidentType.RESOURCE_PRESSURE
    assert typed.incident.fingerprint == fingerprint_of(SHIP, IncidentType.RESOURCE_PRESSURE, "res-app-01")
    later = corr.correlate(anomaly("res-app-01", IncidentType.RESOURCE_PRESSURE, at=6, message="Out of memory again"))
    assert later.incident.incident_id == first.incident.incident_id


def test_clients_of_a_failing_application_join_its_incident(policy):
    """POS terminals reporting offline behind a failing payment gateway are symptoms of its incident."""
    corr = correlator(policy)
    gateway = corr.correlate(anomaly("pos-gw-01", IncidentType.APP_DEGRADATION, at=0, message="payment processor unreachable"))
    t1 = corr.correlate(anomaly("pos-term-01", IncidentType.APP_DEGRADATION, at=4, message="terminal offline: gateway timeout"))
    t2 = corr.correlate(anomaly("pos-term-02", IncidentType.APP_DEGRADATION, at=6, message="terminal offline"))
    assert t1.incident.incident_id == t2.incident.incident_id == gateway.incident.incident_id
    assert t2.incident.root_cause_device == "pos-gw-01"
    assert set(t2.incident.affected_devices) >= {"pos-gw-01", "pos-term-01", "pos-term-02"}


def test_terminal_symptoms_first_are_rerooted_to_the_gateway(policy):
    """Terminals report before the gateway does: the incident is re-rooted to the gateway."""
    corr = correlator(policy)
    t1 = corr.correlate(anomaly("pos-term-01", IncidentType.APP_DEGRADATION, at=0, message="terminal offline: gateway timeout"))
    gateway = corr.correlate(anomaly("pos-gw-01", IncidentType.APP_DEGRADATION, at=5, message="payment processor unreachable"))
    assert gateway.incident.incident_id == t1.incident.incident_id
    assert gateway.incident.root_cause_device == "pos-gw-01"


def test_untyped_connectivity_error_behind_a_failing_link_joins_it(policy):
    """An untyped 'peer unreachable' error on the firewall behind a failing modem joins the link incident."""
    corr = correlator(policy)
    link = corr.correlate(anomaly("vsat-modem-01", IncidentType.LINK_DEGRADATION, at=0, message="RX carrier lost"))
    fw = corr.correlate(anomaly("fw-01", IncidentType.UNKNOWN, at=3, message="IPsec peer 198.51.100.1 unreachable"))
    assert fw.incident.incident_id == link.incident.incident_id
    untyped_other = corr.correlate(anomaly("fw-01", IncidentType.UNKNOWN, at=4, message="fan speed sensor read error"))
    assert untyped_other.incident.incident_id != link.incident.incident_id
