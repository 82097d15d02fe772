"""The V3 contracts: validation at the edge, with the field that is wrong."""

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from aiops_core.models import (
    CONTRACTS,
    LogEntry,
    LogLevel,
    MetricSample,
    Severity,
    new_tracking_id,
    utc_now,
)


def log_entry(**overrides):
    now = utc_now()
    data = dict(
        tracking_id=new_tracking_id(), ship_id="ms-aurora", device_id="fw-01", service="fortigate",
        level="error", message="session table full", timestamp=now, ingestion_timestamp=now,
    )
    data.update(overrides)
    return LogEntry(**data)


def test_log_entry_round_trips_through_json():
    """A LogEntry serialised for the bus decodes to an equal model."""
    entry = log_entry()
    assert LogEntry.model_validate_json(entry.model_dump_json()) == entry


def test_unknown_fields_are_rejected():
    """extra="forbid": a misspelled field is an error, not silently dropped."""
    with pytest.raises(ValidationError) as info:
        log_entry(devce_id="x")
    assert "devce_id" in str(info.value)


def test_naive_timestamps_are_rejected_and_offsets_become_utc():
    """Timestamps must carry a zone; any zone is converted to UTC."""
    with pytest.raises(ValidationError, match="timezone-aware"):
        log_entry(timestamp=datetime(2026, 1, 1, 12, 0))
    plus_two = datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert log_entry(timestamp=plus_two).timestamp == datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_identifiers_are_normalised_and_bounded():
    """ship_id/device_id are lowercased; spaces, slashes and over-long ids are rejected."""
    assert log_entry(device_id="FW-01").device_id == "fw-01"
    for bad in ("fw 01", "../etc", "x" * 65, ""):
        with pytest.raises(ValidationError):
            log_entry(device_id=bad)


def test_tracking_id_must_be_a_uuid():
    """A tracking_id that is not a UUID cannot enter the pipeline."""
    with pytest.raises(ValidationError, match="UUID"):
        log_entry(tracking_id="not-a-uuid")


def test_message_size_is_bounded():
    """A 64 KiB message is accepted; one byte more is not."""
    log_entry(message="x" * 65536)
    with pytest.raises(ValidationError):
        log_entry(message="x" * 65537)


def test_metric_values_must_be_finite():
    """NaN and infinity are not measurements."""
    now = utc_now()
    base = dict(tracking_id=new_tracking_id(), ship_id="ms-aurora", device_id="vsat-modem-01", metric="snr_db",
                timestamp=now, ingestion_timestamp=now)
    assert MetricSample(value=6.5, **base).value == 6.5
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValidationError):
            MetricSample(value=bad, **base)


def test_stamped_appends_a_stage_without_mutating():
    """Each role appends its stamp to a copy; the input message is unchanged."""
    entry = log_entry()
    started = utc_now()
    stamped = entry.stamped("anomaly-detection", "anomaly-detection", started)
    assert entry.trace == []
    assert [s.stage for s in stamped.trace] == ["anomaly-detection"]
    assert stamped.trace[0].duration_ms >= 0


def test_severity_ordering_and_raising():
    """Severity ranks low < medium < high < critical and raising saturates at critical."""
    assert Severity.LOW.rank < Severity.CRITICAL.rank
    assert Severity.MEDIUM.raised() == Severity.HIGH
    assert Severity.CRITICAL.raised(3) == Severity.CRITICAL


def test_every_contract_has_a_json_schema(tmp_path):
    """`aiops schema` writes one JSON Schema per contract."""
    from services.tools.schema import write_schemas

    written = write_schemas(tmp_path)
    assert {p.name for p in written} == {f"{name}.schema.json" for name in CONTRACTS}
    assert LogLevel.ERROR.value == "error"


def test_committed_schemas_match_the_models(tmp_path):
    """docs/schemas is regenerated with the models (`aiops schema`); a stale copy fails here."""
    from pathlib import Path

    from services.tools.schema import write_schemas

    committed = Path(__file__).resolve().parents[2] / "docs" / "schemas"
    for path in write_schemas(tmp_path):
        assert (committed / path.name).read_text() == path.read_text(), f"run `aiops schema`: {path.name} is stale"
