"""What the incident-api stores for an incident change: the fast path ends when the incident's row
is stored, and every anomaly row of the batch records that moment."""

from __future__ import annotations

import uuid
from datetime import timedelta

from aiops_core.models import EnrichedAnomaly, Incident, IncidentChange, StageStamp, new_tracking_id, utc_now
from services.incident_api import handlers


def change(ingested_ms_ago: float) -> IncidentChange:
    now = utc_now()
    ingested = now - timedelta(milliseconds=ingested_ms_ago)
    trigger = EnrichedAnomaly(
        tracking_id=new_tracking_id(), ship_id="ms-aurora", anomaly_id=str(uuid.uuid4()), device_id="fw-01",
        detector="log_pattern", incident_type="resource_pressure", severity="high", score=0.9,
        message="session table full", detected_at=now, ingestion_timestamp=ingested, event_timestamp=ingested,
    )
    incident = Incident(
        incident_id=str(uuid.uuid4()), ship_id="ms-aurora", fingerprint="ms-aurora:resource_pressure:fw-01",
        incident_type="resource_pressure", severity="high", title="session table full on fw-01",
        root_cause_device="fw-01", anomaly_count=1, first_seen=now, last_seen=now, created_at=now,
        updated_at=now, version=1,
    )
    return IncidentChange(change="created", incident=incident, trigger=trigger)


def column(row: list, name: str):
    return row[handlers.ANOMALY_COLUMNS.index(name)]


def test_mark_stored_dates_every_anomaly_row_to_the_incident_store_time():
    """Each anomaly row's stored_at becomes the given moment and fast_path_ms runs from its own
    ingestion timestamp to that moment; the batch's fast-path list holds the same values."""
    rows = handlers.Rows()
    started = utc_now()
    for ms_ago in (5.0, 40.0):
        handlers.add_change(rows, change(ms_ago), stored_at=started, started=started, operator_status=None)
    stored_at = started + timedelta(milliseconds=7)
    handlers.mark_stored(rows, stored_at)
    for row in rows.anomalies:
        assert column(row, "stored_at") == stored_at
        expected = (stored_at - column(row, "ingestion_timestamp")).total_seconds() * 1000
        assert column(row, "fast_path_ms") == expected
    assert rows.fast_path_ms == [column(row, "fast_path_ms") for row in rows.anomalies]
    assert rows.fast_path_ms[1] - rows.fast_path_ms[0] > 30


def test_mark_stored_ends_the_incident_api_trace_stamp_when_the_row_is_stored():
    """The incident-api's stamp in the trace lasts from taking the batch to storing the row, so
    the trace shows the wait for the store; the earlier stages' stamps are left as they came."""
    rows = handlers.Rows()
    started = utc_now()
    incoming = change(5.0)
    incoming.trigger.trace.append(StageStamp(stage="correlation", service="correlation", at=started, duration_ms=0.4))
    handlers.add_change(rows, incoming, stored_at=started, started=started, operator_status=None)
    before = [list(row) for row in rows.traces]
    stored_at = started + timedelta(milliseconds=12)
    handlers.mark_stored(rows, stored_at)
    at, duration, stage = (handlers.TRACE_COLUMNS.index(c) for c in ("at", "duration_ms", "stage"))
    own = [row for row in rows.traces if row[stage] == handlers.STAGE]
    assert len(own) == 1
    assert own[0][at] == stored_at
    assert abs(own[0][duration] - 12.0) < 1e-6
    earlier = [row for row in rows.traces if row[stage] != handlers.STAGE]
    assert len(earlier) == 1
    assert earlier == [row for row in before if row[stage] != handlers.STAGE]


def test_mark_stored_never_records_a_negative_time():
    """An ingestion timestamp after the store time (a clock step) gives 0 ms, not a negative figure."""
    rows = handlers.Rows()
    now = utc_now()
    handlers.add_change(rows, change(0.0), stored_at=now, started=now, operator_status=None)
    handlers.mark_stored(rows, now - timedelta(seconds=1))
    assert rows.fast_path_ms == [0.0]


def test_a_batch_stores_each_incident_once_at_its_newest_version_and_every_trigger():
    first = change(5)
    incident = first.incident
    later = IncidentChange(
        change="updated", trigger=change(3).trigger,
        incident=incident.model_copy(update={"version": 2, "anomaly_count": 2,
                                             "updated_at": incident.updated_at + timedelta(seconds=1)}),
    )
    other = change(4)
    rows = handlers.Rows()
    for c in (later, first, other):  # out of order: the newest version wins, not the last seen
        handlers.add_change(rows, c, stored_at=utc_now(), started=utc_now(), operator_status=None)
    newest = [handlers.incident_row(i) for i in handlers.newest(rows.incidents)]
    by_id = {row[0]: row for row in newest}
    assert len(newest) == 2
    assert by_id[incident.incident_id][handlers.INCIDENT_COLUMNS.index("anomaly_count")] == 2
    assert len(rows.anomalies) == 3
