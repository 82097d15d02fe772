"""What the generators produce: log lines bound to a device's vendor format, and metric samples.

A Line is rendered late, in time order, because some formats number each device's messages
(Cisco's sequence number) and background and fault generators run independently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import vendors
from .inventory import Device

__all__ = [
    "METRIC_UNITS",
    "Line",
    "Sample",
    "app",
    "cisco",
    "cisco_port",
    "forti",
    "linux",
    "modem",
    "wlc",
]

# docs/CONVENTIONS.md, "Metric names and units".
METRIC_UNITS: Mapping[str, str] = {
    "snr_db": "dB",
    "esno_db": "dB",
    "ber": "ratio",
    "latency_ms": "ms",
    "packet_loss_pct": "%",
    "throughput_mbps": "Mbit/s",
    "cpu_pct": "%",
    "mem_pct": "%",
    "disk_pct": "%",
    "fw_sessions_pct": "%",
    "dhcp_pool_pct": "%",
    "wifi_clients": "count",
    "dns_fail_pct": "%",
    "if_errors": "count/min",
}


@dataclass(frozen=True)
class Line:
    at: datetime
    device_id: str
    render: Callable[[int], bytes]  # the device's running message number -> wire bytes
    stream: str = ""  # background stream name, so a fault can mute it
    fault: str | None = None


@dataclass(frozen=True)
class Sample:
    at: datetime
    device_id: str
    metric: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    stream: str = ""
    fault: str | None = None


def cisco(
    dev: Device,
    at: datetime,
    facility: str,
    severity: int,
    mnemonic: str,
    text: str,
    *,
    stream: str = "",
) -> Line:
    def render(seq: int) -> bytes:
        return vendors.cisco_ios(
            at,
            facility_code=facility,
            severity=severity,
            mnemonic=mnemonic,
            text=text,
            seq=seq,
            hostname=dev.hostname,
        )

    return Line(at, dev.device_id, render, stream)


def cisco_port(dev: Device, at: datetime, port: str, state: str) -> list[Line]:
    """The pair IOS logs when a port changes state: the link, then a second later its protocol."""
    return [
        cisco(dev, at, "LINK", 3, "UPDOWN", f"Interface {port}, changed state to {state}"),
        cisco(
            dev,
            at + timedelta(seconds=1),
            "LINEPROTO",
            5,
            "UPDOWN",
            f"Line protocol on Interface {port}, changed state to {state}",
        ),
    ]


def wlc(
    dev: Device,
    at: datetime,
    task: str,
    facility: str,
    severity: int,
    mnemonic: str,
    text: str,
    *,
    stream: str = "",
) -> Line:
    wire = vendors.aireos_wlc(
        at,
        host=dev.hostname,
        task=task,
        facility_code=facility,
        severity=severity,
        mnemonic=mnemonic,
        text=text,
    )
    return Line(at, dev.device_id, lambda _seq: wire, stream)


def forti(
    dev: Device,
    at: datetime,
    logid: str,
    log_type: str,
    subtype: str,
    severity: int,
    msg: str | None = None,
    fields: Mapping[str, object] | None = None,
    *,
    stream: str = "",
) -> Line:
    wire = vendors.fortigate(
        at,
        devname=dev.hostname,
        devid=dev.serial or dev.device_id.upper(),
        logid=logid,
        log_type=log_type,
        subtype=subtype,
        severity=severity,
        msg=msg,
        fields=fields,
    )
    return Line(at, dev.device_id, lambda _seq: wire, stream)


def linux(
    dev: Device,
    at: datetime,
    program: str,
    pid: int | None,
    severity: int,
    text: str,
    *,
    facility: int = vendors.DAEMON,
    stream: str = "",
) -> Line:
    wire = vendors.rfc3164(
        at,
        host=dev.hostname,
        program=program,
        pid=pid,
        severity=severity,
        text=text,
        facility=facility,
    )
    return Line(at, dev.device_id, lambda _seq: wire, stream)


def modem(
    dev: Device,
    at: datetime,
    severity: int,
    text: str,
    *,
    program: str = "modem",
    pid: int = 77,
    stream: str = "",
) -> Line:
    wire = vendors.satellite_modem(
        at, host=dev.hostname, severity=severity, text=text, program=program, pid=pid
    )
    return Line(at, dev.device_id, lambda _seq: wire, stream)


def app(
    dev: Device,
    at: datetime,
    app_name: str,
    severity: int,
    text: str,
    *,
    msgid: str = "-",
    procid: str | int = "-",
    structured: Mapping[str, Mapping[str, object]] | None = None,
    stream: str = "",
) -> Line:
    wire = vendors.rfc5424(
        at,
        host=dev.hostname,
        app=app_name,
        severity=severity,
        text=text,
        procid=procid,
        msgid=msgid,
        structured=structured,
    )
    return Line(at, dev.device_id, lambda _seq: wire, stream)
