"""Syslog parsing (RFC 5424, RFC 3164 and the dialects real gear speaks) and RFC 6587 TCP framing.

Pure logic: no sockets, no clock. The ingest role hands datagrams and stream chunks in and gets
`SyslogMessage` values out, or a `SyslogParseError` whose `reason` goes to the DLQ.

Dialects handled besides the two RFCs: rsyslog ISO timestamps in the RFC 3164 position, Cisco
IOS / IOS-XE / NX-OS / ASA / AireOS WLC headers (sequence numbers, `*`/`.` clock markers,
milliseconds, year, zone token, `%FAC-SEV-MNEMONIC`), FortiGate key=value lines, and lines with
no header at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Final, Literal, NamedTuple

__all__ = [
    "LEVEL_BY_SEVERITY",
    "MAX_MESSAGE_BYTES",
    "FramingError",
    "OctetFrameDecoder",
    "SyslogMessage",
    "SyslogParseError",
    "level_of",
    "parse_syslog",
]

MAX_MESSAGE_BYTES: Final = 65536

# docs/CONVENTIONS.md, "Log level (from syslog severity 0..7)".
LEVEL_BY_SEVERITY: Final = MappingProxyType(
    {
        0: "emergency",
        1: "alert",
        2: "critical",
        3: "error",
        4: "warning",
        5: "notice",
        6: "info",
        7: "debug",
    }
)

# RFC 3164 section 4.3.3: a message without a usable PRI is user-level (1), notice (5).
_DEFAULT_FACILITY: Final = 1
_DEFAULT_SEVERITY: Final = 5
_MAX_PRI: Final = 191

# Above this share of U+FFFD and control characters the input is binary, not a log line.
_MAX_JUNK_RATIO: Final = 0.25

# Prefix of the reason used only by the last-resort guard in parse_syslog; tests assert that
# no input ever reaches it.
INTERNAL_FAILURE_REASON: Final = "internal parser failure"


class SyslogParseError(ValueError):
    """The input cannot be turned into a SyslogMessage; `reason` says why, for the DLQ."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    format: Literal["rfc3164", "rfc5424"]
    facility: int
    severity: int
    timestamp: datetime
    hostname: str | None
    app_name: str | None
    procid: str | None
    msgid: str | None
    structured_data: dict[str, dict[str, str]]
    message: str


def level_of(severity: int) -> str:
    """The conventions' level name for a syslog severity 0..7."""
    try:
        return LEVEL_BY_SEVERITY[severity]
    except (KeyError, TypeError):
        raise ValueError(f"syslog severity must be 0..7, got {severity!r}") from None


def parse_syslog(data: bytes | str, *, received_at: datetime) -> SyslogMessage:
    """Parse one syslog line; raise SyslogParseError (and nothing else) when it is not one.

    `received_at` supplies the timestamp when the line has none and anchors the year of
    year-less RFC 3164 timestamps. A naive `received_at` is taken as UTC.
    """
    try:
        return _parse(data, received_at)
    except SyslogParseError:
        raise
    except Exception as exc:  # noqa: BLE001 - one hostile datagram must never stop the ingest loop
        raise SyslogParseError(f"{INTERNAL_FAILURE_REASON}: {type(exc).__name__}") from exc


def _parse(data: bytes | str, received_at: datetime) -> SyslogMessage:
    received_utc = _received_utc(received_at)
    line = _decode_line(data)
    pri, rest = _split_pri(line)
    if _RFC5424_START.match(rest):
        return _parse_rfc5424(pri, rest[2:], received_utc)
    return _parse_rfc3164(pri, rest, received_utc)


# --- input validation ---------------------------------------------------------------------------


def _received_utc(received_at: datetime) -> datetime:
    if not isinstance(received_at, datetime):
        raise SyslogParseError("received_at must be a datetime")
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        return received_at.replace(tzinfo=timezone.utc)
    try:
        return received_at.astimezone(timezone.utc)
    except OverflowError:
        raise SyslogParseError("received_at is outside the representable UTC range") from None


def _decode_line(data: bytes | str) -> str:
    if isinstance(data, str):
        # Lone surrogates cannot be encoded; replacing them keeps the size check honest.
        raw = data.encode("utf-8", errors="replace")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        raise SyslogParseError(f"expected bytes or str, got {type(data).__name__}")

    if len(raw) > MAX_MESSAGE_BYTES:
        raise SyslogParseError(f"message is {len(raw)} bytes, above the {MAX_MESSAGE_BYTES} limit")
    if b"\x00" in raw:
        raise SyslogParseError("message contains a NUL byte")

    # Invalid UTF-8 inside a real message (a Latin-1 device name, a cut multi-byte character) is
    # replaced; only input that is mostly junk is refused.
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise SyslogParseError("message is empty")
    if _junk_ratio(text) > _MAX_JUNK_RATIO:
        raise SyslogParseError("message is not text (mostly invalid UTF-8 or control bytes)")
    return text.removeprefix("\ufeff").strip(" \t\r\n")


_JUNK_CHARS = re.compile("[\ufffd\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _junk_ratio(text: str) -> float:
    """Share of replacement characters and control characters other than TAB, LF, CR."""
    return len(_JUNK_CHARS.findall(text)) / len(text)


# --- PRI --------------------------------------------------------------------------------------


_PRI = re.compile(r"<(\d+)>")


def _split_pri(line: str) -> tuple[int | None, str]:
    """Return (PRI, rest); PRI is None when absent or unidentifiable (RFC 3164 section 4.3.3)."""
    match = _PRI.match(line)
    if match is None:
        return None, line
    digits = match.group(1)
    # Checking the length first keeps int() away from absurdly long digit runs.
    if len(digits) > 3 or int(digits) > _MAX_PRI:
        raise SyslogParseError(f"PRI <{digits[:10]}> is out of range 0..{_MAX_PRI}")
    return int(digits), line[match.end() :]


def _facility_and_severity(pri: int | None, fallback_severity: int | None) -> tuple[int, int]:
    if pri is not None:
        return divmod(pri, 8)
    return _DEFAULT_FACILITY, (_DEFAULT_SEVERITY if fallback_severity is None else fallback_severity)


# --- timestamps -------------------------------------------------------------------------------


def _utc_datetime(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    fraction: str | None,
    offset_minutes: int,
) -> datetime | None:
    """Build a UTC datetime, or None when the fields do not name a real instant."""
    microsecond = int(fraction[:6].ljust(6, "0")) if fraction else 0
    if second == 60:
        # RFC 5424 permits a leap second; datetime does not, so stay just before it.
        second, microsecond = 59, 999_999
    try:
        zone = timezone(timedelta(minutes=offset_minutes))
        local = datetime(year, month, day, hour, minute, second, microsecond, tzinfo=zone)
        return local.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


_NUMERIC_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_UTC_ZONE_NAMES: Final = frozenset({"Z", "UT", "UTC", "GMT"})


def _offset_minutes(zone: str | None) -> int | None:
    """Minutes east of UTC for a zone token; None when it is malformed.

    Zone abbreviations other than UTC/GMT are ambiguous (IST, CST), so they are read as UTC,
    which is what shipboard gear is expected to run on.
    """
    if not zone or zone.upper() in _UTC_ZONE_NAMES:
        return 0
    match = _NUMERIC_OFFSET.fullmatch(zone)
    if match is None:
        return 0 if zone.isalpha() else None
    sign, hours, minutes = match.groups()
    if int(minutes) > 59:
        return None
    total = int(hours) * 60 + int(minutes)
    return -total if sign == "-" else total


_ISO_TIMESTAMP = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[Tt ]"
    r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})"
    r"(?:[.,](?P<fraction>\d{1,9}))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?"
)


def _iso_to_utc(match: re.Match[str]) -> datetime | None:
    offset = _offset_minutes(match["zone"])
    if offset is None:
        return None
    return _utc_datetime(
        int(match["year"]),
        int(match["month"]),
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"]),
        match["fraction"],
        offset,
    )


_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}

_BSD_TIMESTAMP = re.compile(
    r"""
    [*.]?                                        # Cisco: '*' clock never set, '.' sync lost
    (?:(?P<leading_year>\d{4})\ )?               # NX-OS puts the year first
    (?P<month>[A-Za-z]{3})\ +(?P<day>\d{1,2})    # RFC 3164 pads a single-digit day with a space
    (?:\ (?P<year>\d{4}))?                       # ASA, IOS 'service timestamps ... year'
    \ +(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})
    (?:\.(?P<fraction>\d{1,9}))?                 # Cisco 'msec'
    (?:\ (?P<zone>[A-Za-z]{1,5}|[+-]\d{2}:?\d{2})(?=:))?  # only Cisco's 'UTC:' form, so a short
                                                 # hostname is never mistaken for a zone
    """,
    re.VERBOSE,
)


def _bsd_to_utc(match: re.Match[str], received_at: datetime) -> datetime | None:
    month = _MONTHS.get(match["month"].lower())
    offset = _offset_minutes(match["zone"])
    if month is None or offset is None:
        return None
    explicit_year = match["leading_year"] or match["year"]
    if explicit_year:
        years = [int(explicit_year)]
    else:
        # No year on the wire: try the neighbouring years so a line stamped Dec 31 and received
        # on Jan 1 (or a device clock running slightly ahead over New Year) lands right.
        years = [received_at.year - 1, received_at.year, received_at.year + 1]
    candidates: list[datetime] = []
    for year in years:
        stamp = _utc_datetime(
            year,
            month,
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"]),
            match["fraction"],
            offset,
        )
        if stamp is not None:  # Feb 29 exists only in some of the candidate years
            candidates.append(stamp)
    return min(candidates, key=lambda stamp: abs(stamp - received_at), default=None)


class _Stamped(NamedTuple):
    timestamp: datetime
    rest: str
    ended_with_colon: bool


_TIMESTAMP_END = re.compile(r"(:)?(?: +|$)")


def _take_timestamp(text: str, received_at: datetime) -> _Stamped | None:
    """Consume a leading ISO or BSD timestamp (with Cisco's trailing ':'), if there is one."""
    for pattern in (_ISO_TIMESTAMP, _BSD_TIMESTAMP):
        match = pattern.match(text)
        if match is None:
            continue
        end = _TIMESTAMP_END.match(text, match.end())
        if end is None:
            continue
        if pattern is _ISO_TIMESTAMP:
            timestamp = _iso_to_utc(match)
        else:
            timestamp = _bsd_to_utc(match, received_at)
        if timestamp is None:
            # An impossible date (Feb 30, hour 25) is left in the message rather than guessed.
            return None
        return _Stamped(timestamp, text[end.end() :], end.group(1) is not None)
    return None


# --- RFC 5424 ---------------------------------------------------------------------------------


# VERSION 1 followed by a NILVALUE or a full-date; anything else after '1 ' is BSD content.
_RFC5424_START = re.compile(r"1 (?:- |-$|\d{4}-\d{2}-\d{2}[Tt])")


def _parse_rfc5424(pri: int | None, header: str, received_at: datetime) -> SyslogMessage:
    fields = header.split(" ", 5)
    if len(fields) < 6:
        raise SyslogParseError(
            "truncated RFC 5424 header: expected TIMESTAMP HOSTNAME APP-NAME PROCID MSGID "
            "STRUCTURED-DATA"
        )
    stamp, hostname, app_name, procid, msgid, rest = fields
    timestamp = received_at if stamp == "-" else _rfc3339_to_utc(stamp)
    if timestamp is None:
        raise SyslogParseError(f"invalid RFC 5424 timestamp {stamp[:40]!r}")
    structured_data, message = _split_structured_data(rest)
    facility, severity = _facility_and_severity(pri, None)
    return SyslogMessage(
        format="rfc5424",
        facility=facility,
        severity=severity,
        timestamp=timestamp,
        hostname=_nil_to_none(hostname),
        app_name=_nil_to_none(app_name),
        procid=_nil_to_none(procid),
        msgid=_nil_to_none(msgid),
        structured_data=structured_data,
        message=message.removeprefix("\ufeff"),
    )


def _rfc3339_to_utc(stamp: str) -> datetime | None:
    match = _ISO_TIMESTAMP.fullmatch(stamp)
    return None if match is None else _iso_to_utc(match)


def _nil_to_none(value: str) -> str | None:
    return None if value in ("-", "") else value


def _split_structured_data(text: str) -> tuple[dict[str, dict[str, str]], str]:
    """Split STRUCTURED-DATA from MSG."""
    if text == "-":
        return {}, ""
    if text.startswith("- "):
        return {}, text[2:]
    if not text.startswith("["):
        # Some senders leave STRUCTURED-DATA out altogether; keep their text rather than refuse it.
        return {}, text
    structured_data, end = _parse_sd_elements(text)
    return structured_data, text[end:].removeprefix(" ")


_SD_NAME_END: Final = frozenset(' =]"')
_SD_ESCAPABLE: Final = frozenset('"\\]')


def _parse_sd_elements(text: str) -> tuple[dict[str, dict[str, str]], int]:
    """Parse consecutive `[SD-ID PARAM="VALUE" ...]` elements; return them and the end index."""
    elements: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(text) and text[pos] == "[":
        sd_id, params, pos = _parse_sd_element(text, pos + 1)
        # A repeated SD-ID is invalid per RFC 5424; merging keeps the data instead of dropping it.
        elements.setdefault(sd_id, {}).update(params)
    return elements, pos


def _parse_sd_element(text: str, pos: int) -> tuple[str, dict[str, str], int]:
    sd_id, pos = _read_sd_name(text, pos)
    if not sd_id:
        raise SyslogParseError("STRUCTURED-DATA element without an SD-ID")
    params: dict[str, str] = {}
    while True:
        if pos >= len(text):
            raise SyslogParseError(f"unterminated STRUCTURED-DATA element [{sd_id[:32]}")
        if text[pos] == "]":
            return sd_id, params, pos + 1
        if text[pos] == " ":
            pos += 1
            continue
        name, pos = _read_sd_name(text, pos)
        if not name or not text.startswith('="', pos):
            raise SyslogParseError(f"malformed SD-PARAM in STRUCTURED-DATA element [{sd_id[:32]}")
        params[name], pos = _read_sd_value(text, pos + 2, sd_id)


def _read_sd_name(text: str, pos: int) -> tuple[str, int]:
    start = pos
    while pos < len(text) and text[pos] not in _SD_NAME_END:
        pos += 1
    return text[start:pos], pos


def _read_sd_value(text: str, pos: int, sd_id: str) -> tuple[str, int]:
    """Read a PARAM-VALUE after its opening quote; return it unescaped and the index past the quote."""
    chars: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text) and text[pos + 1] in _SD_ESCAPABLE:
            chars.append(text[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(chars), pos + 1
        else:
            # RFC 5424 6.3.3: a backslash before any other character is kept as is.
            chars.append(char)
            pos += 1
    raise SyslogParseError(f"unterminated PARAM-VALUE in STRUCTURED-DATA element [{sd_id[:32]}")


# --- RFC 3164 and vendor dialects -------------------------------------------------------------


# Cisco's 'service sequence-numbers' prefix ("123: ", "000045: "), and NX-OS's bare ": ".
_CISCO_SEQUENCE = re.compile(r"\d*: ")

# Cisco's origin before the timestamp: "hostname: " (logging origin-id) and/or AireOS's
# "*taskName: ".
_CISCO_ORIGIN = re.compile(r"(?:(?P<host>[^\s:*][^\s]*?): )?(?:\*(?P<task>[^\s:]+): )?")

_CISCO_MNEMONIC = re.compile(
    r"%(?P<facility>[A-Za-z0-9_]+)(?:-[A-Za-z0-9_]+)*?-(?P<severity>[0-7])-(?P<mnemonic>[A-Za-z0-9_]+)"
    r"(?=:|\s|$)"
)

# Hostname, FQDN, IPv4 or IPv6 address; never ending in ':' (that is a TAG).
_HOSTNAME = re.compile(r"[A-Za-z0-9_:][A-Za-z0-9._:%-]*(?<!:)")

# TAG[PID]: with the characters real tags use (postfix/smtpd, systemd-logind, java.exe).
_TAG = re.compile(r"(?P<tag>[A-Za-z_][^\s:\[\]]{0,47})(?:\[(?P<pid>[^\]\s]{0,128})\])?:(?: +|$)")


def _parse_rfc3164(pri: int | None, text: str, received_at: datetime) -> SyslogMessage:
    fortigate = _fortigate_fields(text)
    if fortigate is not None:
        return _fortigate_message(pri, text, fortigate, received_at)

    rest = _strip_cisco_sequence(text)
    hostname: str | None = None
    stamped = _take_timestamp(rest, received_at)
    if stamped is None:
        hostname, stamped, rest = _take_cisco_origin(rest, received_at)
    elif stamped.ended_with_colon:
        # Cisco ends its timestamp with ':' and never puts a hostname after it.
        rest = stamped.rest
    else:
        hostname, rest = _split_hostname(stamped.rest)

    app_name, procid, message = _split_tag(rest)
    mnemonic = _CISCO_MNEMONIC.match(message)
    facility, severity = _facility_and_severity(
        pri, int(mnemonic["severity"]) if mnemonic else None
    )
    return SyslogMessage(
        format="rfc3164",
        facility=facility,
        severity=severity,
        timestamp=stamped.timestamp if stamped else received_at,
        hostname=hostname,
        app_name=app_name,
        procid=procid,
        msgid=None,
        structured_data={},
        message=message,
    )


def _strip_cisco_sequence(text: str) -> str:
    match = _CISCO_SEQUENCE.match(text)
    return text[match.end() :] if match else text


def _take_cisco_origin(
    text: str, received_at: datetime
) -> tuple[str | None, _Stamped | None, str]:
    """Handle "host: [*task: ]TIMESTAMP: %MSG" and "host: %MSG" (timestamps disabled).

    The origin is accepted only when a timestamp or a Cisco mnemonic follows, so that an
    ordinary "tag: message" line without a timestamp keeps its tag.
    """
    origin = _CISCO_ORIGIN.match(text)
    if origin is None or origin.end() == 0:
        return None, None, text
    after = text[origin.end() :]
    stamped = _take_timestamp(after, received_at)
    if stamped is not None:
        return origin["host"], stamped, stamped.rest
    if _CISCO_MNEMONIC.match(after):
        return origin["host"], None, after
    return None, None, text


def _split_hostname(text: str) -> tuple[str | None, str]:
    """Split RFC 3164's HOSTNAME off, unless the first word is clearly the TAG (no hostname sent)."""
    token, separator, rest = text.partition(" ")
    if not separator or not _HOSTNAME.fullmatch(token):
        return None, text
    # Cisco ASA writes "host : %ASA-...".
    return token, rest.lstrip(" ").removeprefix(": ")


def _split_tag(text: str) -> tuple[str | None, str | None, str]:
    """Return (app_name, procid, message) from "TAG[PID]: MSG" or a bare Cisco "%FAC-SEV-MNEMONIC"."""
    mnemonic = _CISCO_MNEMONIC.match(text)
    if mnemonic is not None:
        # The mnemonic is the most useful part to match on downstream, so the text keeps it.
        return mnemonic["facility"], None, text
    tag = _TAG.match(text)
    if tag is None:
        return None, None, text
    return tag["tag"], tag["pid"] or None, text[tag.end() :]


# --- FortiGate --------------------------------------------------------------------------------


_KEY_VALUE = re.compile(
    r'(?P<key>[A-Za-z_][\w-]*)=(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"]*))'
)
_KEY_VALUE_START = re.compile(r"[A-Za-z_][\w-]*=")
_ESCAPED_CHAR = re.compile(r"\\(.)")

_FORTIGATE_SEVERITY: Final = {
    "emergency": 0,
    "alert": 1,
    "critical": 2,
    "error": 3,
    "warning": 4,
    "notice": 5,
    "information": 6,
    "debug": 7,
}


def _fortigate_fields(text: str) -> dict[str, str] | None:
    """The key=value fields of a FortiGate log line, or None when the line is not one."""
    if not _KEY_VALUE_START.match(text):
        return None
    fields = {
        match["key"]: _unescaped(match["quoted"]) if match["quoted"] is not None else match["bare"]
        for match in _KEY_VALUE.finditer(text)
    }
    if "devname" in fields or ("date" in fields and "time" in fields):
        return fields
    return None


def _unescaped(quoted: str) -> str:
    # Almost no value holds an escape: the substring test is far cheaper than the substitution.
    return _ESCAPED_CHAR.sub(r"\1", quoted) if "\\" in quoted else quoted


def _fortigate_message(
    pri: int | None, text: str, fields: dict[str, str], received_at: datetime
) -> SyslogMessage:
    facility, severity = _facility_and_severity(pri, _FORTIGATE_SEVERITY.get(fields.get("level", "")))
    return SyslogMessage(
        format="rfc3164",
        facility=facility,
        severity=severity,
        timestamp=_fortigate_timestamp(fields) or received_at,
        hostname=fields.get("devname") or None,
        app_name="fortigate",
        procid=None,
        msgid=fields.get("logid") or None,
        # Every field is kept (srcip, action, policyid...): detection rules match on them.
        structured_data={"fortigate": fields},
        # Traffic logs carry no msg=; their whole line is the message then.
        message=fields.get("msg") or text,
    )


_FORTIGATE_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_FORTIGATE_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})")


def _fortigate_timestamp(fields: dict[str, str]) -> datetime | None:
    """date= and time= are the device's local time; tz= ("+0200") says which, else UTC."""
    date = _FORTIGATE_DATE.fullmatch(fields.get("date", ""))
    time = _FORTIGATE_TIME.fullmatch(fields.get("time", ""))
    offset = _offset_minutes(fields.get("tz"))
    if date is None or time is None or offset is None:
        return None
    year, month, day = (int(part) for part in date.groups())
    hour, minute, second = (int(part) for part in time.groups())
    return _utc_datetime(year, month, day, hour, minute, second, None, offset)


# --- RFC 6587 TCP framing ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FramingError:
    """A frame the decoder had to discard; the stream continues after it."""

    reason: str


_OCTET_COUNT_HEADER = re.compile(rb"([1-9][0-9]*) ")
# More digits than this cannot be a sane length; they are reported without converting them.
_MAX_COUNT_DIGITS: Final = 10
_FRAME_TERMINATOR = re.compile(rb"[\n\x00]")
# Between frames: stray terminators and padding some senders emit.
_INTER_FRAME_BYTES: Final = b"\r\n\x00 \t"
_INTER_FRAME_RUN = re.compile(rb"[\r\n\x00 \t]*")


class OctetFrameDecoder:
    """Split a syslog TCP stream into frames (RFC 6587), auto-detecting the framing per frame.

    A frame starting with a non-zero digit followed by a space is octet-counted ("123 <PRI>...");
    anything else is non-transparent and ends at LF (CRLF and NUL tolerated). Memory stays bounded:
    an oversize frame becomes a FramingError and the decoder skips to the next newline.
    """

    def __init__(self, max_frame_bytes: int = 65536) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._resyncing = False
        # Bytes at the front of the buffer already known to hold no terminator, so a frame that
        # trickles in over many small reads is not rescanned from its start every time.
        self._searched = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes | FramingError]:
        """Add received bytes; return every frame (or framing error) they complete, in order."""
        self._buffer += chunk
        items: list[bytes | FramingError] = []
        while (item := self._next_item()) is not None:
            items.append(item)
        return items

    def flush(self) -> list[bytes]:
        """At connection close, return the trailing unterminated frame, if any, and reset.

        A cut octet-counted frame yields the bytes that did arrive (without the count): a
        truncated log line is worth more to the operator than none.
        """
        remainder = bytes(self._buffer).lstrip(_INTER_FRAME_BYTES)
        discarding = self._resyncing
        self._consume(len(self._buffer))
        self._resyncing = False
        if discarding or not remainder:
            return []
        header = _OCTET_COUNT_HEADER.match(remainder)
        frame = remainder[header.end() :] if header else remainder.rstrip(b"\r")
        return [frame] if frame else []

    def _next_item(self) -> bytes | FramingError | None:
        """The next complete frame or error, or None when more bytes are needed."""
        if self._resyncing and not self._skip_past_terminator():
            return None
        self._consume(_INTER_FRAME_RUN.match(self._buffer).end())
        if not self._buffer:
            return None
        header = _OCTET_COUNT_HEADER.match(self._buffer)
        if header is not None:
            return self._take_counted_frame(header)
        # Only digits so far also lands here: with no terminator yet it simply waits, and the
        # next chunk's space or newline decides the framing.
        return self._take_terminated_frame()

    def _take_counted_frame(self, header: re.Match[bytes]) -> bytes | FramingError | None:
        digits = header.group(1)
        length = int(digits) if len(digits) <= _MAX_COUNT_DIGITS else None
        if length is None or length > self.max_frame_bytes:
            self._consume(header.end())
            self._resyncing = True
            return FramingError(
                f"declared frame length {digits[:20].decode()} exceeds {self.max_frame_bytes} bytes"
            )
        end = header.end() + length
        if len(self._buffer) < end:
            return None
        frame = bytes(self._buffer[header.end() : end])
        self._consume(end)
        return frame

    def _take_terminated_frame(self) -> bytes | FramingError | None:
        terminator = _FRAME_TERMINATOR.search(self._buffer, self._searched)
        if terminator is None:
            if len(self._buffer) <= self.max_frame_bytes:
                self._searched = len(self._buffer)
                return None
            self._consume(len(self._buffer))
            self._resyncing = True
            return FramingError(f"unterminated frame exceeds {self.max_frame_bytes} bytes")
        frame = bytes(self._buffer[: terminator.start()]).rstrip(b"\r")
        self._consume(terminator.end())
        if len(frame) > self.max_frame_bytes:
            return FramingError(f"frame of {len(frame)} bytes exceeds {self.max_frame_bytes} bytes")
        return frame

    def _skip_past_terminator(self) -> bool:
        """Drop bytes up to and including the next terminator; False if none has arrived yet."""
        terminator = _FRAME_TERMINATOR.search(self._buffer)
        if terminator is None:
            self._consume(len(self._buffer))
            return False
        self._consume(terminator.end())
        self._resyncing = False
        return True

    def _consume(self, count: int) -> None:
        # Deleting from the front of a bytearray is cheap in CPython, so no read cursor is needed.
        del self._buffer[:count]
        self._searched = max(0, self._searched - count)
