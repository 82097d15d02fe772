"""Unit tests for the evaluation commands' pure parts: loghub grouping accuracy, the labelled-lines
decision, and the matching of incidents to labelled faults."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiops_core.models import LogLevel
from aiops_core.policy import DEFAULT_POLICIES_DIR, load_policy
from services.tools import eval_detect
from services.tools.eval_detect import FaultLabel, IncidentSeen, ScenarioRun, score
from services.tools.eval_lines import evaluate as evaluate_lines
from services.tools.eval_lines import labelled, level_in
from services.tools.eval_parsing import grouping_accuracy
from services.tools.scenario import labelled_lines

DATA = Path(__file__).resolve().parent.parent / "data"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# --- grouping accuracy ---------------------------------------------------------------------------------
def test_grouping_accuracy_counts_only_exactly_recovered_groups() -> None:
    """A group counts only when it holds exactly its event's lines: a merge or a split loses every line involved."""
    truth = ["A", "A", "B", "B", "C", "C"]
    assert grouping_accuracy(truth, [1, 1, 2, 2, 3, 3]) == 1.0
    assert grouping_accuracy(truth, [1, 1, 2, 2, 2, 2]) == pytest.approx(2 / 6)  # B and C merged
    assert grouping_accuracy(truth, [1, 1, 2, 9, 3, 3]) == pytest.approx(4 / 6)  # B split
    with pytest.raises(ValueError):
        grouping_accuracy(truth, [1])


# --- labelled lines ----------------------------------------------------------------------------------------
def test_labelled_lines_have_a_known_confusion_matrix() -> None:
    """tests/data/labelled_lines.txt: 5 pattern/severity hits, 2 normal lines at error/fatal level, 2 quiet anomalies."""
    with (DATA / "labelled_lines.txt").open(encoding="utf-8") as handle:
        report = evaluate_lines(handle)
    assert (report.tp, report.fp, report.fn, report.tn) == (5, 2, 2, 7)
    assert report.precision == pytest.approx(5 / 7) and report.recall == pytest.approx(5 / 7)
    assert report.f1 == pytest.approx(5 / 7)
    assert report.by_detector == {"log_pattern": [3, 0], "syslog_severity": [2, 2]}
    assert report.by_label["rain_fade"] == [0, 1] and report.by_label["disk_full"] == [1, 1]


def test_label_is_the_first_token_and_level_the_first_level_word() -> None:
    """`-` marks a normal line; the rest is the line; a plain line's level is its first level name."""
    assert list(labelled(["- a b\n", "\n", "KERNDTLB x y\n"])) == [("-", "a b"), ("KERNDTLB", "x y")]
    assert level_in("1117838570 R02 RAS KERNEL FATAL data TLB error") == LogLevel.CRITICAL
    assert level_in("no level here at all") == LogLevel.INFO


def test_scenario_export_labels_each_line_with_its_fault() -> None:
    """`aiops scenario export` writes background lines as `-` and a fault's lines under its name."""
    from services.simulator import build_scenario

    scenario = build_scenario("dns_failure", start=T0, duration_s=600, seed=7)
    out = io.StringIO()
    lines, anomalous = labelled_lines(scenario, out)
    written = out.getvalue().splitlines()
    assert len(written) == lines and anomalous > 0
    labels = {line.split(" ", 1)[0] for line in written}
    assert labels == {"-", "dns_failure"}
    assert all(line.split(" ", 1)[1].startswith("<") for line in written)


# --- incidents against faults ----------------------------------------------------------------------------------
def fault(name: str = "rain_fade", *, start_min: int = 10, end_min: int = 20, kind: str = "link_degradation",
          devices: tuple[str, ...] = ("vsat-modem-01", "fw-01")) -> FaultLabel:
    return FaultLabel(name, T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min), devices, kind, devices[0])


def incident(incident_id: str, kind: str, root: str, first_min: float, last_min: float, *,
             devices: tuple[str, ...] = (), events: tuple[float, ...] = (), anomalies: int = 3) -> IncidentSeen:
    return IncidentSeen(
        incident_id, kind, root, devices or (root,), f"{kind} on {root}", T0 + timedelta(minutes=first_min),
        T0 + timedelta(minutes=last_min), anomalies, event_times=tuple(T0 + timedelta(minutes=m) for m in events),
    )


def test_an_incident_of_the_fault_family_on_its_devices_is_a_hit() -> None:
    """comms_outage matches a link_degradation label (one family); type accuracy stays strict."""
    run = ScenarioRun("rain_fade", T0, 3600, [fault()], [incident("i1", "comms_outage", "vsat-modem-01", 11, 18)])
    report = score([run], speed=20)
    result = report.faults[0]
    assert result.detected and result.incidents == 1 and result.time_to_detect_s == 60.0
    assert result.root_correct is True and result.type_exact is False
    assert report.recall == 1.0 and report.type_accuracy_strict == 0.0 and report.false_incidents == 0


def test_other_family_on_fault_devices_is_related_and_elsewhere_is_false() -> None:
    """A resource incident on the fault's device is a side effect; one on another device is false."""
    incidents = [
        incident("hit", "link_degradation", "fw-01", 12, 15, devices=("fw-01", "pos-gw-01")),
        incident("side", "resource_pressure", "fw-01", 13, 14),
        incident("false", "config_change", "acc-sw-04", 40, 41),
        incident("late", "link_degradation", "vsat-modem-01", 27, 28),  # beyond the 5-minute grace
    ]
    report = score([ScenarioRun("rain_fade", T0, 3600, [fault()], incidents)], speed=20)
    result = report.faults[0]
    assert result.incidents == 1 and result.related == 1
    assert result.root_device == "fw-01" and result.root_correct is False
    assert sorted(f["incident_id"] for f in report.false_incident_list) == ["false", "late"]
    assert report.background_hours == pytest.approx((3600 - 600) / 3600, abs=1e-3)
    assert report.false_incidents_per_hour == pytest.approx(2 / ((3600 - 600) / 3600), abs=1e-3)


def test_time_to_detect_of_an_incident_open_before_the_fault_counts_from_its_next_entry() -> None:
    """An incident already open on the device absorbs the fault: detection is its first entry after the start."""
    early = incident("i1", "link_degradation", "vsat-modem-01", 2, 19, events=(2, 12.5, 14))
    report = score([ScenarioRun("rain_fade", T0, 3600, [fault()], [early])], speed=20)
    assert report.faults[0].time_to_detect_s == 150.0


def test_a_missed_fault_and_duplicate_incidents_show_in_the_summary() -> None:
    """Recall counts faults with a hit; incidents per fault counts every matching incident."""
    runs = [
        ScenarioRun("rain_fade", T0, 3600, [fault()], [
            incident("a", "link_degradation", "vsat-modem-01", 11, 12),
            incident("b", "link_degradation", "vsat-modem-01", 16, 17, anomalies=9),
        ]),
        ScenarioRun("dns_failure", T0, 3600, [fault("dns_failure", kind="network_issue", devices=("dns-01",))], []),
    ]
    report = score(runs, speed=20)
    assert report.recall == 0.5 and report.incidents_per_fault == 2.0
    assert [r.detected for r in report.faults] == [True, False]


def test_the_eval_node_policy_is_the_production_policy_in_simulated_time(tmp_path) -> None:
    """Correlation windows and rate buckets are divided by the speed, the storm rate multiplied; the copy loads."""
    overrides, unscaled = eval_detect.scaled_policy_overrides(DEFAULT_POLICIES_DIR, "ms-aurora", 20)
    target = tmp_path / "policies"
    eval_detect.write_eval_policies(DEFAULT_POLICIES_DIR, target, "ms-aurora", overrides)
    base, scaled = load_policy(DEFAULT_POLICIES_DIR, "ms-aurora"), load_policy(target, "ms-aurora")
    assert scaled.correlate.windows.link_degradation == base.correlate.windows.link_degradation / 20
    assert scaled.correlate.dedup_ttl_seconds == base.correlate.dedup_ttl_seconds / 20
    assert scaled.correlate.suppression.storm.max_new_incidents_per_minute == base.correlate.suppression.storm.max_new_incidents_per_minute * 20
    assert scaled.detect.rate_spike.bucket_seconds == 1
    assert scaled.detect.metric_thresholds == base.detect.metric_thresholds  # sample timestamps: not scaled
    assert any("bucket_seconds" in note for note in unscaled)


def test_the_false_incident_rate_comes_from_the_fault_free_scenarios() -> None:
    """With a background run present, only its incidents and hours make the rate; all false incidents are listed."""
    runs = [
        ScenarioRun("rain_fade", T0, 3600, [fault()], [incident("x", "config_change", "acc-sw-04", 40, 41)]),
        ScenarioRun("background", T0, 7200, [], [incident("y", "unknown", "fw-01", 30, 31)]),
    ]
    report = score(runs, speed=20)
    assert report.false_incidents == 2
    assert report.background_hours == 2.0 and report.false_incidents_per_hour == 0.5
    assert report.false_rate_from == "fault-free scenarios"
