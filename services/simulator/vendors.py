"""Vendor syslog wire formats: each function renders one log line as the bytes a device sends.

The shapes follow what the gear really emits, including its quirks (Cisco's non-RFC header,
FortiGate's header-less key=value, AireOS's task names), because the ingest parser has to cope
with exactly those. Device clocks are taken to run on UTC, as shipboard IT gear does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

__all__ = [
    "AUTH",
    "AUTHPRIV",
    "CRON",
    "DAEMON",
    "FORTIGATE_LEVELS",
    "KERN",
    "LOCAL0",
    "LOCAL1",
    "LOCAL2",
    "LOCAL3",
    "LOCAL4",
    "LOCAL5",
    "LOCAL6",
    "LOCAL7",
    "USER",
    "aireos_wlc",
    "cisco_ios",
    "fortigate",
    "pri",
    "rfc3164",
    "rfc5424",
    "satellite_modem",
]

# RFC 5424 section 6.2.1 facility codes (the ones the ship's gear uses).
KERN, USER, DAEMON, AUTH, CRON, AUTHPRIV = 0, 1, 3, 4, 9, 10
LOCAL0, LOCAL1, LOCAL2, LOCAL3, LOCAL4, LOCAL5, LOCAL6, LOCAL7 = range(16, 24)

FORTIGATE_LEVELS = (
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "information",
    "debug",
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Fixed English abbreviations: strftime("%b") follows the locale, the wire format does not.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def pri(facility: int, severity: int) -> int:
    """The PRI value (facility * 8 + severity, 0..191) of RFC 3164/5424."""
    if not 0 <= facility <= 23:
        raise ValueError(f"syslog facility must be 0..23, got {facility}")
    if not 0 <= severity <= 7:
        raise ValueError(f"syslog severity must be 0..7, got {severity}")
    return facility * 8 + severity


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("log timestamps must be timezone-aware")
    return at.astimezone(UTC)


def _bsd_time(at: datetime, *, millis: bool = False) -> str:
    """RFC 3164 'Mmm dd hh:mm:ss' (day padded with a space), optionally Cisco's '.mmm'."""
    at = _utc(at)
    stamp = f"{_MONTHS[at.month - 1]} {at.day:>2} {at:%H:%M:%S}"
    return f"{stamp}.{at.microsecond // 1000:03d}" if millis else stamp


def _single_line(text: str) -> str:
    # One datagram is one line: a stray newline would split it in two at a TCP receiver.
    return text.replace("\r", " ").replace("\n", " ")


def rfc3164(
    at: datetime,
    *,
    host: str,
    program: str,
    severity: int,
    text: str,
    pid: int | None = None,
    facility: int = USER,
) -> bytes:
    """BSD syslog as Linux daemons send it: `<PRI>Mmm dd hh:mm:ss host prog[pid]: text`."""
    tag = f"{program}[{pid}]" if pid is not None else program
    line = f"<{pri(facility, severity)}>{_bsd_time(at)} {host} {tag}: {_single_line(text)}"
    return line.encode("utf-8")


def satellite_modem(
    at: datetime,
    *,
    host: str,
    severity: int,
    text: str,
    program: str = "modem",
    pid: int = 77,
    facility: int = LOCAL1,
) -> bytes:
    """An iDirect/Comtech-style modem or antenna-controller line (embedded Linux, local1).

    Readings go in the text as `Es/No=2.1dB C/N=3.0dB`, the way these modems print them.
    """
    return rfc3164(
        at, host=host, program=program, pid=pid, severity=severity, text=text, facility=facility
    )


def cisco_ios(
    at: datetime,
    *,
    facility_code: str,
    severity: int,
    mnemonic: str,
    text: str,
    seq: int,
    hostname: str | None = None,
    clock_synced: bool = False,
    facility: int = LOCAL7,
) -> bytes:
    """Cisco IOS/IOS-XE: `<PRI>SEQ: [HOST: ]*Mmm dd hh:mm:ss.mmm: %FAC-SEV-MNEMONIC: text`.

    `hostname` is present with `logging origin-id hostname`; the leading `*` marks a clock not
    confirmed by NTP (IOS prints it until the first sync, and many devices never lose it).
    """
    origin = f"{hostname}: " if hostname else ""
    marker = "" if clock_synced else "*"
    line = (
        f"<{pri(facility, severity)}>{seq}: {origin}{marker}{_bsd_time(at, millis=True)}: "
        f"%{facility_code}-{severity}-{mnemonic}: {_single_line(text)}"
    )
    return line.encode("utf-8")


def aireos_wlc(
    at: datetime,
    *,
    host: str,
    task: str,
    facility_code: str,
    severity: int,
    mnemonic: str,
    text: str,
    facility: int = LOCAL0,
) -> bytes:
    """Cisco AireOS WLC: `<PRI>HOST: *task: Mmm dd hh:mm:ss.mmm: %FAC-SEV-MNEMONIC: text`."""
    line = (
        f"<{pri(facility, severity)}>{host}: *{task}: {_bsd_time(at, millis=True)}: "
        f"%{facility_code}-{severity}-{mnemonic}: {_single_line(text)}"
    )
    return line.encode("utf-8")


# FortiOS leaves these bare; every other text field is quoted.
_FORTIGATE_BARE_KEYS = frozenset({"date", "time", "eventtime"})


def _fortigate_value(key: str, value: object) -> str:
    if isinstance(value, bool):
        value = "enable" if value else "disable"
    if isinstance(value, (int, float)) or key in _FORTIGATE_BARE_KEYS:
        return str(value)
    text = _single_line(str(value))
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'


def fortigate(
    at: datetime,
    *,
    devname: str,
    devid: str,
    logid: str,
    log_type: str,
    subtype: str,
    severity: int,
    msg: str | None = None,
    vd: str = "root",
    fields: Mapping[str, object] | None = None,
    facility: int = LOCAL7,
) -> bytes:
    """FortiGate: `<PRI>date=... time=... devname="..." devid="..." logid="..." type=... msg=...`.

    No syslog header: FortiOS sends the key=value body straight after PRI. Traffic logs carry
    no `msg`; event logs do.
    """
    at = _utc(at)
    pairs: list[tuple[str, object]] = [
        ("date", f"{at:%Y-%m-%d}"),
        ("time", f"{at:%H:%M:%S}"),
        ("devname", devname),
        ("devid", devid),
        ("eventtime", (at - _EPOCH) // timedelta(microseconds=1) * 1000),  # ns, exact
        ("tz", "+0000"),
        ("logid", logid),
        ("type", log_type),
        ("subtype", subtype),
        ("level", FORTIGATE_LEVELS[severity]),
        ("vd", vd),
        *(fields or {}).items(),
    ]
    if msg is not None:
        pairs.append(("msg", msg))
    body = " ".join(f"{key}={_fortigate_value(key, value)}" for key, value in pairs)
    return f"<{pri(facility, severity)}>{body}".encode()


def _sd_escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _sd_name(name: str) -> str:
    # RFC 5424 SD-NAME: 1..32 printable ASCII, none of '=', ' ', ']', '"'.
    if not 1 <= len(name) <= 32 or any(c in '= ]"' or not 33 <= ord(c) <= 126 for c in name):
        raise ValueError(f"invalid RFC 5424 SD name {name!r}")
    return name


def rfc5424(
    at: datetime,
    *,
    host: str,
    app: str,
    severity: int,
    text: str,
    procid: str | int = "-",
    msgid: str = "-",
    structured: Mapping[str, Mapping[str, object]] | None = None,
    facility: int = LOCAL0,
) -> bytes:
    """RFC 5424 with structured data, as the hotel applications (POS, reservations) send it."""
    stamp = _utc(at).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    elements = "".join(
        f"[{_sd_name(sd_id)}"
        + "".join(f' {_sd_name(k)}="{_sd_escape(v)}"' for k, v in params.items())
        + "]"
        for sd_id, params in (structured or {}).items()
    )
    line = (
        f"<{pri(facility, severity)}>1 {stamp} {host} {app} {procid} {msgid} "
        f"{elements or '-'} {_single_line(text)}"
    )
    return line.encode("utf-8")
