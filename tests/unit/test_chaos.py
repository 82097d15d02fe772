"""The chaos run's stream and verdict (the harness itself runs in tests/e2e/test_chaos.py)."""

import re
import uuid
from collections import Counter

import pytest

from aiops_core.policy import load_policy
from aiops_core.settings import Settings
from services.chaos.stream import FAULTS, build_stream
from services.chaos.verify import tally


def test_stream_has_every_fault_spread_over_the_whole_stream():
    """Each fault's lines are present and spread from the first third to the last third."""
    events = build_stream(1000, lines_per_fault=8)
    assert [e.index for e in events] == list(range(1000))
    for spec in FAULTS:
        positions = [e.index for e in events if e.fault == spec.name]
        assert len(positions) == 8
        assert positions[0] < 333 and positions[-1] > 666


def test_stream_is_reproducible_and_rejects_a_too_short_size():
    """The same seed gives the same stream; too few events for the faults is an error."""
    assert build_stream(500, seed=3) == build_stream(500, seed=3)
    with pytest.raises(ValueError):
        build_stream(50)


def test_fault_lines_match_their_pattern_type_and_background_matches_none():
    """Every fault line is typed by a detect.yaml pattern as its fault's type; no background line matches any."""
    detect = load_policy(Settings().policies_dir, "ms-aurora").detect
    patterns = [(re.compile(p.regex), p.incident_type) for p in detect.log_patterns]
    ignored = [re.compile(p.regex) for p in detect.ignore_patterns]

    def first_match(message):
        if any(rx.search(message) for rx in ignored):
            return "ignored"
        return next((str(getattr(t, "value", t)) for rx, t in patterns if rx.search(message)), None)

    for event in build_stream(1000):
        spec = next((s for s in FAULTS if s.name == event.fault), None)
        if spec is None:
            assert event.item["level"] == "info" and first_match(event.item["message"]) is None, event.item
        else:
            assert first_match(event.item["message"]) == spec.incident_type, event.item


def test_fault_devices_are_distinct():
    """No two faults share a root device (each must be its own incident)."""
    assert len({s.device_id for s in FAULTS}) == len(FAULTS)


def _clean_run(size=200, lines=4):
    events = build_stream(size, lines_per_fault=lines)
    accepted = {e.index: str(uuid.uuid4()) for e in events}
    archived = {tid: 1 for tid in accepted.values()}
    incident_of = {s.name: str(uuid.uuid4()) for s in FAULTS}
    anomalies = [{"tracking_id": accepted[e.index], "anomaly_id": str(uuid.uuid4()), "incident_id": incident_of[e.fault]}
                 for e in events if e.fault]
    device_of = {s.name: s.device_id for s in FAULTS}
    incidents = [{"incident_id": iid, "root_cause_device": device_of[name], "incident_type": "x", "anomaly_count": lines}
                 for name, iid in incident_of.items()]
    return events, accepted, archived, anomalies, incidents


def test_a_clean_run_counts_nothing_lost_or_duplicated():
    """What was sent, archived, detected and filed exactly once is lost=0 duplicated=0."""
    result = tally(*_clean_run())
    assert result.summary() == "lost=0 duplicated=0", (result.lost, result.duplicated, result.notes)


def test_missing_and_doubled_rows_are_counted():
    """A missing archive row, a doubled one, a lost anomaly and a second incident for a fault all count."""
    events, accepted, archived, anomalies, incidents = _clean_run()
    tids = list(accepted.values())
    archived.pop(tids[0])
    archived[tids[1]] = 3
    anomalies.pop()
    incidents.append({**incidents[0], "incident_id": str(uuid.uuid4())})
    result = tally(events, accepted, archived, anomalies, incidents)
    assert result.lost["logs"] == 1
    assert result.duplicated["logs"] == 2
    assert result.lost["anomalies"] == 1
    assert result.duplicated["incidents"] == 1
    assert result.lost_total >= 2 and result.duplicated_total >= 3


def test_lost_incident_spurious_incident_and_wrong_count_are_counted():
    """A fault with no incident is lost; an incident on another device is extra; a double-counted anomaly is a duplicate."""
    events, accepted, archived, anomalies, incidents = _clean_run(lines=4)
    gone = incidents.pop(0)
    incidents.append({"incident_id": str(uuid.uuid4()), "root_cause_device": "core-rtr-01",
                      "incident_type": "unknown", "anomaly_count": 1})
    incidents[0] = {**incidents[0], "anomaly_count": 5}
    result = tally(events, accepted, archived, anomalies, incidents)
    assert result.lost["incidents"] == 1
    assert result.duplicated["incidents_spurious"] == 1
    assert result.duplicated["incident_anomaly_count"] == 1
    assert any(gone["root_cause_device"] in note for note in result.notes)


def test_unaccepted_events_and_resent_copies_count():
    """An event never answered with 202 is lost; an archived row nobody was answered for is a duplicate copy."""
    events, accepted, archived, anomalies, incidents = _clean_run()
    background = next(e.index for e in events if e.fault is None)
    archived[str(uuid.uuid4())] = 1
    del archived[accepted.pop(background)]
    result = tally(events, accepted, archived, anomalies, incidents)
    assert result.lost == Counter({"never_accepted": 1})
    assert result.duplicated == Counter({"logs_unrequested": 1})
