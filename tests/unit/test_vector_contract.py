"""The LogEntry contract of a syslog line is the same whether the ingest role or Vector (compose)
takes it in: one fixture, tests/data/syslog_contract.yaml, checked against both.

The ingest side runs the role's real parsing path. The Vector side runs the `logentry` remap of
vector/vector.toml on the event Vector's syslog source emits for the line: with tests/unit/
vrl_subset.py always, and with the real VRL engine too when the `pyvrl` package is installed
(docs/DEPLOYMENT.md says what is and is not verified)."""

from __future__ import annotations

import json
import re
import time
import tomllib
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiops_core.bus import LOGS_RAW
from aiops_core.devices import DeviceRegistry
from aiops_core.models import LogEntry
from aiops_core.store import DATABASE
from services.ingest.handlers import log_from_syslog
from services.ingest.syslog import LEVEL_BY_SEVERITY, parse_syslog
from tests.unit.vrl_subset import Program

ROOT = Path(__file__).resolve().parents[2]
# logs_raw's columns, as the migration creates them.
LOGS_RAW_COLUMNS = re.findall(
    r"^    ([a-z_]+) [A-Z]",
    re.search(r"CREATE TABLE IF NOT EXISTS aiops\.logs_raw \((.*?)\n\) ENGINE", (ROOT / "aiops_core/migrations/0001_init.sql").read_text(), re.S)[1],
    re.M,
)
FIXTURE = yaml.safe_load((ROOT / "tests/data/syslog_contract.yaml").read_text())
VECTOR = tomllib.loads((ROOT / "vector/vector.toml").read_text())
CASES = FIXTURE["cases"]

# How Vector's syslog parser (the syslog_loose crate) names severities 0..7 and facilities 0..23.
VECTOR_SEVERITY_NAMES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
VECTOR_FACILITY_NAMES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clockd", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
)


def _remap_source(name: str) -> str:
    return VECTOR["transforms"][name]["source"]


def _vector_event(case: dict[str, Any]) -> dict[str, Any]:
    return {**case["vector_event"], "source_ip": FIXTURE["peer"]}


def _ingest(case: dict[str, Any]) -> LogEntry:
    received_at = FIXTURE["received_at"]
    parsed = parse_syslog(case["line"], received_at=received_at)
    return log_from_syslog(
        parsed, peer=FIXTURE["peer"], registry=DeviceRegistry(), default_ship_id=FIXTURE["ship_id"],
        received_at=received_at, started=time.perf_counter(),
    )


def _vector_subset(event: dict[str, Any]) -> LogEntry:
    out = Program(_remap_source("logentry")).run(
        event, now=FIXTURE["received_at"], env={"SHIP_ID": FIXTURE["ship_id"]}
    )
    return LogEntry.model_validate(out)


def _assert_contract(entry: LogEntry, case: dict[str, Any], *, source: str) -> None:
    expected = case["expected"]
    assert uuid.UUID(entry.tracking_id).version == 4
    assert entry.ship_id == FIXTURE["ship_id"]
    assert entry.source == source
    for name in ("device_id", "service", "host", "message"):
        assert getattr(entry, name) == expected[name], name
    assert entry.level.value == expected["level"]
    want_time = entry.ingestion_timestamp if expected["timestamp"] == "received" else expected["timestamp"]
    assert entry.timestamp == want_time
    assert {k: entry.fields.get(k) for k in expected["fields"]} == expected["fields"]
    assert [stamp.stage for stamp in entry.trace] == ["ingest"]
    assert entry.trace[0].at >= entry.ingestion_timestamp


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_ingest_role_meets_the_contract(case):
    """The ingest role turns each fixture line into the LogEntry fields the fixture expects."""
    entry = _ingest(case)
    _assert_contract(entry, case, source="syslog")
    assert entry.ingestion_timestamp == FIXTURE["received_at"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector_remap_meets_the_contract(case):
    """Vector's `logentry` remap turns the syslog source's event for each line into the same fields."""
    entry = _vector_subset(_vector_event(case))
    _assert_contract(entry, case, source="vector")
    assert entry.ingestion_timestamp == FIXTURE["received_at"]


def test_fixture_vector_events_describe_their_lines():
    """Each fixture's Vector event carries the header its line has (a typo in either would pass unseen)."""
    for case in CASES:
        parsed = parse_syslog(case["line"], received_at=FIXTURE["received_at"])
        event = case["vector_event"]
        assert event.get("hostname") == parsed.hostname, case["name"]
        assert event.get("appname") == parsed.app_name, case["name"]
        assert event["message"] == parsed.message, case["name"]
        assert VECTOR_SEVERITY_NAMES.index(event["severity"]) == parsed.severity, case["name"]
        assert VECTOR_FACILITY_NAMES.index(event["facility"]) == parsed.facility, case["name"]
        assert (event.get("version") == 1) == (parsed.format == "rfc5424"), case["name"]
        assert event["timestamp"] == parsed.timestamp, case["name"]


@pytest.mark.parametrize("severity", range(8))
def test_vector_level_table_equals_the_ingest_table(severity):
    """Every syslog severity maps to the ingest role's level name and number on the Vector side."""
    event = {"hostname": "sw1", "severity": VECTOR_SEVERITY_NAMES[severity], "facility": "user", "message": "m"}
    entry = _vector_subset(event)
    assert entry.level.value == LEVEL_BY_SEVERITY[severity]
    assert entry.fields["severity"] == severity


@pytest.mark.parametrize("facility", range(24))
def test_vector_facility_table_gives_the_syslog_numbers(facility):
    """Every facility name Vector emits becomes the number the ingest role records."""
    event = {"hostname": "sw1", "severity": "info", "facility": VECTOR_FACILITY_NAMES[facility], "message": "m"}
    assert _vector_subset(event).fields["facility"] == facility


def test_line_without_pri_is_user_notice_on_both_sides():
    """A headerless line is user-level notice whether the ingest role or Vector reads it."""
    received_at = FIXTURE["received_at"]
    ingest = log_from_syslog(
        parse_syslog("plain text, no header", received_at=received_at), peer=None, registry=DeviceRegistry(),
        default_ship_id="ms-contract", received_at=received_at, started=time.perf_counter(),
    )
    vector = _vector_subset({"message": "plain text, no header", "timestamp": received_at})
    for entry in (ingest, vector):
        assert (entry.level.value, entry.fields["severity"], entry.fields["facility"]) == ("notice", 5, 1)
        assert (entry.device_id, entry.service, entry.host) == ("unknown", "syslog", None)


def test_archive_rows_have_the_ingest_roles_columns():
    """The ClickHouse branch writes exactly logs_raw's columns, with fields and trace as JSON text."""
    entry = _vector_subset(_vector_event(CASES[0]))
    logentry = entry.model_dump(mode="json")
    row = Program(_remap_source("logs_raw_rows")).run(logentry, now=FIXTURE["received_at"], env={})
    assert set(row) == set(LOGS_RAW_COLUMNS)
    assert json.loads(row["fields"]) == logentry["fields"]
    assert json.loads(row["trace"]) == logentry["trace"]
    no_host = Program(_remap_source("logs_raw_rows")).run({**logentry, "host": None}, now=FIXTURE["received_at"], env={})
    assert no_host["host"] == ""


def test_vector_pipeline_wiring():
    """Syslog UDP+TCP and files feed the remap; NATS logs.raw and ClickHouse logs_raw sinks have disk buffers."""
    sources = VECTOR["sources"]
    syslog_modes = {s["mode"] for s in sources.values() if s["type"] == "syslog"}
    assert syslog_modes == {"udp", "tcp"}
    assert any(s["type"] == "file" for s in sources.values())
    transforms = VECTOR["transforms"]
    fed = set(transforms["logentry"]["inputs"])
    assert {n for n, s in sources.items() if s["type"] == "syslog"} <= fed
    assert any(transforms[name]["inputs"] == [n] for name in fed if name in transforms
               for n, s in sources.items() if s["type"] == "file")

    sinks = VECTOR["sinks"]
    nats = next(s for s in sinks.values() if s["type"] == "nats")
    assert nats["subject"] == LOGS_RAW and nats["inputs"] == ["logentry"]
    assert nats["jetstream"]["enabled"] is True
    # The ingest role publishes with the tracking_id as Nats-Msg-Id; Vector's retries dedup the same way.
    assert nats["jetstream"]["headers"]["message_id"] == "{{ tracking_id }}"
    clickhouse = next(s for s in sinks.values() if s["type"] == "clickhouse")
    assert (clickhouse["database"], clickhouse["table"]) == (DATABASE, "logs_raw")
    assert clickhouse["inputs"] == ["logs_raw_rows"]
    for sink in (nats, clickhouse):
        assert sink["buffer"]["type"] == "disk"
        assert sink["buffer"]["when_full"] == "block"


# --- the real VRL engine, when it is installed ----------------------------------------------------

# Vector's syslog source delivers `timestamp` as a VRL timestamp; pyvrl takes JSON-like input, so
# the harness turns the fixture's ISO text back into one. The trailing `.` makes pyvrl return the
# event (it returns the program's last value).
_HARNESS_PREFIX = '.timestamp = parse_timestamp(.timestamp, "%+") ?? .timestamp\n'


def _pyvrl():
    return pytest.importorskip("pyvrl", reason="pyvrl (the real VRL engine) is not installed")


def _jsonable(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in event.items()}


def test_every_remap_compiles_in_real_vrl():
    """The VRL compiler accepts every remap in vector.toml (type checks included)."""
    pyvrl = _pyvrl()
    for name, transform in VECTOR["transforms"].items():
        if transform["type"] == "remap":
            pyvrl.Transform(transform["source"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_real_vrl_meets_the_contract(case, monkeypatch):
    """Run by the real VRL engine, the `logentry` remap gives the fixture's fields too."""
    pyvrl = _pyvrl()
    monkeypatch.setenv("SHIP_ID", FIXTURE["ship_id"])
    program = pyvrl.Transform(_HARNESS_PREFIX + _remap_source("logentry") + "\n.")
    entry = LogEntry.model_validate(program.remap(_jsonable(_vector_event(case))))
    _assert_contract(entry, case, source="vector")
