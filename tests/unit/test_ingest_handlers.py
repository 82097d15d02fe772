"""Ingest logic: stamping, HTTP batch validation and syslog-to-LogEntry mapping."""

import time
import uuid

import pytest

from aiops_core.devices import Device, DeviceRegistry, device_id_from_host
from aiops_core.models import utc_now
from services.ingest.handlers import InputError, LogIn, log_from_syslog, parse_batch, stamp_log
from services.ingest.syslog import parse_syslog

REGISTRY = DeviceRegistry.of([
    Device(ship_id="ms-aurora", device_id="fw-01", kind="firewall", host_aliases=("FGT-AURORA-01",), mgmt_ip="10.0.0.1"),
])


def test_stamp_gives_a_uuid4_tracking_id_and_ingest_stamp():
    """Every accepted log gets a fresh uuid4 tracking_id, the ingestion time and the ingest stage."""
    now = utc_now()
    entries = [
        stamp_log(LogIn.parse({"device_id": "fw-01", "message": "x"}), default_ship_id="ms-aurora",
                  source="http", received_at=now, started=time.perf_counter())
        for _ in range(3)
    ]
    ids = {e.tracking_id for e in entries}
    assert len(ids) == 3 and all(uuid.UUID(i).version == 4 for i in ids)
    assert all(e.ingestion_timestamp == now and e.trace[0].stage == "ingest" for e in entries)
    assert entries[0].ship_id == "ms-aurora"


def test_level_aliases_are_accepted():
    """Common level spellings (err, warn, crit) map to the syslog level names."""
    assert LogIn.parse({"device_id": "a", "message": "m", "level": "WARN"}).level.value == "warning"
    assert LogIn.parse({"device_id": "a", "message": "m", "level": "err"}).level.value == "error"


def test_batch_errors_name_the_item_and_field():
    """A bad item rejects the batch with `[index].field` locations so the client can fix it."""
    with pytest.raises(InputError) as info:
        parse_batch([{"device_id": "ok", "message": "fine"}, {"device_id": "BAD ID", "level": "loud"}], LogIn, 10)
    locs = {e["loc"] for e in info.value.errors}
    assert {"[1].device_id", "[1].level", "[1].message"} <= locs


def test_batch_limits():
    """Empty batches and batches over the policy limit are refused."""
    with pytest.raises(InputError, match="empty"):
        parse_batch([], LogIn, 10)
    with pytest.raises(InputError, match="exceeds"):
        parse_batch([{"device_id": "a", "message": "m"}] * 11, LogIn, 10)


def test_syslog_host_resolves_through_the_registry():
    """A FortiGate devname alias maps to the registered device and its ship."""
    now = utc_now()
    parsed = parse_syslog(
        b'<188>date=2026-11-24 time=10:00:01 devname="FGT-AURORA-01" devid="FG100F" logid="0100032001" '
        b'type="event" subtype="system" level="warning" msg="Conserve mode entered"', received_at=now)
    entry = log_from_syslog(parsed, peer="10.9.9.9", registry=REGISTRY, default_ship_id="other-ship",
                            received_at=now, started=time.perf_counter())
    assert (entry.ship_id, entry.device_id, entry.service) == ("ms-aurora", "fw-01", "fortigate")
    assert entry.level.value == "warning"


def test_unknown_syslog_host_still_gets_a_valid_device_id():
    """An unregistered hostname becomes a valid device_id and the node's ship."""
    now = utc_now()
    parsed = parse_syslog(b"<11>Nov 24 10:00:00 NEW-SW.Deck7 kernel: link down", received_at=now)
    entry = log_from_syslog(parsed, peer=None, registry=REGISTRY, default_ship_id="ms-aurora",
                            received_at=now, started=time.perf_counter())
    assert entry.device_id == "new-sw.deck7"
    assert device_id_from_host("New Switch/7") == "new-switch-7"
    assert device_id_from_host("///") == "unknown"
    assert entry.ship_id == "ms-aurora" and entry.level.value == "error"


def test_future_device_clock_is_not_trusted():
    """A device clock far ahead of the receiver's falls back to the receipt time."""
    now = utc_now()
    parsed = parse_syslog(b"<14>1 2099-01-01T00:00:00Z host app - - - hello", received_at=now)
    entry = log_from_syslog(parsed, peer=None, registry=REGISTRY, default_ship_id="ms-aurora",
                            received_at=now, started=time.perf_counter())
    assert entry.timestamp == now
