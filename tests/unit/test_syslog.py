"""Unit and property tests for the syslog parser and the RFC 6587 TCP frame decoder."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.ingest.syslog import (
    INTERNAL_FAILURE_REASON,
    LEVEL_BY_SEVERITY,
    MAX_MESSAGE_BYTES,
    FramingError,
    OctetFrameDecoder,
    SyslogMessage,
    SyslogParseError,
    level_of,
    parse_syslog,
)

UTC = timezone.utc
RECEIVED = datetime(2024, 3, 5, 8, 5, 0, tzinfo=UTC)


def parse(line: bytes | str, received_at: datetime = RECEIVED) -> SyslogMessage:
    return parse_syslog(line, received_at=received_at)


def parse_error(line: bytes | str) -> SyslogParseError:
    with pytest.raises(SyslogParseError) as caught:
        parse(line)
    return caught.value


# --- RFC 5424 ---------------------------------------------------------------------------------


def test_rfc5424_with_multiple_sd_elements_and_bom() -> None:
    """RFC 5424 header fields, several SD elements and a BOM before MSG are all decoded."""
    line = (
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
        b'[examplePriority@32473 class="high"] \xef\xbb\xbfAn application event log entry...'
    )
    msg = parse(line)
    assert msg.format == "rfc5424"
    assert (msg.facility, msg.severity) == (20, 5)
    assert msg.timestamp == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC)
    assert (msg.hostname, msg.app_name, msg.procid, msg.msgid) == (
        "mymachine.example.com",
        "evntslog",
        None,
        "ID47",
    )
    assert msg.structured_data == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high"},
    }
    assert msg.message == "An application event log entry..."


def test_rfc5424_nilvalue_in_every_field() -> None:
    """NILVALUE '-' gives None fields, empty SD, and received_at as the timestamp."""
    msg = parse(b"<34>1 - - - - - -")
    assert msg.format == "rfc5424"
    assert msg.timestamp == RECEIVED
    assert (msg.hostname, msg.app_name, msg.procid, msg.msgid) == (None, None, None, None)
    assert msg.structured_data == {}
    assert msg.message == ""


def test_rfc5424_offset_and_fraction_are_converted_to_utc() -> None:
    """A fractional-second timestamp with a negative offset is converted to UTC exactly."""
    msg = parse(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time")
    assert msg.timestamp == datetime(2003, 8, 24, 12, 14, 15, 3, tzinfo=UTC)
    assert msg.timestamp.tzinfo is UTC
    assert (msg.hostname, msg.procid, msg.message) == ("192.0.2.1", "8710", "%% It's time")


def test_rfc5424_nanosecond_fraction_is_truncated_to_microseconds() -> None:
    """Nine fractional digits (some Go and Java senders) keep microsecond precision."""
    msg = parse(b"<14>1 2024-05-01T10:00:00.123456789Z starlink-01 dishy - - - obstructed")
    assert msg.timestamp == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def test_rfc5424_leap_second_is_clamped() -> None:
    """A leap second (:60), legal in RFC 5424, lands just before the next second."""
    msg = parse(b"<14>1 2016-12-31T23:59:60Z ntp-01 chronyd - - - leap")
    assert msg.timestamp == datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_rfc5424_sd_escapes_are_unescaped() -> None:
    """Escaped '\\]', '\\"' and '\\\\' in PARAM-VALUE are unescaped; other backslashes stay."""
    line = (
        rb'<13>1 2024-05-01T10:00:00Z pos-01 till 42 SALE '
        rb'[pos@1 path="C:\\temp\\x" quote="say \"hi\"" bracket="a\]b" other="\n"] done'
    )
    msg = parse(line)
    assert msg.structured_data == {
        "pos@1": {"path": "C:\\temp\\x", "quote": 'say "hi"', "bracket": "a]b", "other": "\\n"}
    }
    assert msg.message == "done"


def test_rfc5424_sd_without_message() -> None:
    """Structured data at the end of the line gives an empty message."""
    msg = parse(b'<13>1 2024-05-01T10:00:00Z host app - - [meta sequenceId="7"]')
    assert msg.structured_data == {"meta": {"sequenceId": "7"}}
    assert msg.message == ""


def test_rfc5424_missing_structured_data_keeps_text_as_message() -> None:
    """A sender that leaves STRUCTURED-DATA out still has its text kept as the message."""
    msg = parse(b"<13>1 2024-05-01T10:00:00Z host app - - Reservation sync failed")
    assert msg.structured_data == {}
    assert msg.message == "Reservation sync failed"


def test_rfc5424_invalid_utf8_in_msg_is_replaced() -> None:
    """Invalid UTF-8 inside MSG becomes U+FFFD instead of failing the message."""
    msg = parse(b"<13>1 2024-05-01T10:00:00Z crew-wifi portal - - - user M\xfcller logged in")
    assert msg.message == "user M\ufffdller logged in"


@pytest.mark.parametrize(
    ("line", "reason_part"),
    [
        (b"<34>1 2003-10-11T22:14:15.003Z mymachine", "truncated RFC 5424 header"),
        (b"<34>1 2003-10-11T22:14:15.003Z host app", "truncated RFC 5424 header"),
        (b"<34>1 2003-13-11T22:14:15Z host app - - - x", "invalid RFC 5424 timestamp"),
        (b'<34>1 - host app - - [id a="1"', "unterminated STRUCTURED-DATA"),
        (b'<34>1 - host app - - [id a="1', "unterminated PARAM-VALUE"),
        (b"<34>1 - host app - - [id a=1] x", "malformed SD-PARAM"),
        (b"<34>1 - host app - - [] x", "without an SD-ID"),
    ],
)
def test_rfc5424_malformed_header_is_rejected(line: bytes, reason_part: str) -> None:
    """A truncated or malformed RFC 5424 header raises SyslogParseError naming the problem."""
    assert reason_part in parse_error(line).reason


# --- RFC 3164 / BSD ---------------------------------------------------------------------------


def test_openssh_failed_password() -> None:
    """An OpenSSH auth line gives facility auth, hostname, tag, PID and the bare message."""
    msg = parse(
        b"<38>Mar  5 08:03:11 bastion-01 sshd[1234]: Failed password for invalid user admin "
        b"from 203.0.113.7 port 52144 ssh2"
    )
    assert msg.format == "rfc3164"
    assert (msg.facility, msg.severity) == (4, 6)
    assert msg.timestamp == datetime(2024, 3, 5, 8, 3, 11, tzinfo=UTC)
    assert (msg.hostname, msg.app_name, msg.procid) == ("bastion-01", "sshd", "1234")
    assert msg.message == (
        "Failed password for invalid user admin from 203.0.113.7 port 52144 ssh2"
    )


def test_satellite_modem_line() -> None:
    """A VSAT modem line with a space-padded day is split into host, tag and message."""
    msg = parse(
        b"<131>Mar  4 23:59:01 vsat-modem-01 rmtmgr[812]: Rx lock lost on demod 0: "
        b"SNR 2.1 dB below threshold 4.5 dB"
    )
    assert (msg.facility, msg.severity) == (16, 3)
    assert msg.timestamp == datetime(2024, 3, 4, 23, 59, 1, tzinfo=UTC)
    assert (msg.hostname, msg.app_name, msg.procid) == ("vsat-modem-01", "rmtmgr", "812")
    assert msg.message == "Rx lock lost on demod 0: SNR 2.1 dB below threshold 4.5 dB"


def test_kernel_tag_without_pid() -> None:
    """A TAG without [PID] gives app_name and no procid."""
    msg = parse(b"<4>Mar  5 08:00:00 nav-srv01 kernel: [12345.678] e1000e: eth0 NIC Link is Down")
    assert (msg.hostname, msg.app_name, msg.procid) == ("nav-srv01", "kernel", None)
    assert msg.message == "[12345.678] e1000e: eth0 NIC Link is Down"


def test_missing_hostname_tag_follows_timestamp() -> None:
    """When the TAG directly follows the timestamp, hostname is None and the tag is kept."""
    msg = parse(b"<86>Mar  5 08:00:00 CRON[4242]: (root) CMD (run-parts /etc/cron.hourly)")
    assert (msg.hostname, msg.app_name, msg.procid) == (None, "CRON", "4242")
    assert msg.message == "(root) CMD (run-parts /etc/cron.hourly)"


def test_ip_address_hostname_and_untagged_message() -> None:
    """An IP-address hostname is recognised and a message without TAG is kept whole."""
    msg = parse(b"<13>Mar  5 08:00:00 10.20.0.7 Link to shore gateway lost")
    assert (msg.hostname, msg.app_name) == ("10.20.0.7", None)
    assert msg.message == "Link to shore gateway lost"


def test_rsyslog_iso_timestamp_in_3164_position() -> None:
    """An RFC 3339 timestamp where RFC 3164 expects its own is parsed and converted to UTC."""
    msg = parse(b"<30>2024-05-01T10:00:00.123456+02:00 nav-srv01 systemd[1]: Started Backup.")
    assert msg.format == "rfc3164"
    assert msg.timestamp == datetime(2024, 5, 1, 8, 0, 0, 123456, tzinfo=UTC)
    assert (msg.hostname, msg.app_name, msg.procid) == ("nav-srv01", "systemd", "1")
    assert msg.message == "Started Backup."


@pytest.mark.parametrize(
    ("line", "received_at", "expected"),
    [
        (
            b"<13>Dec 31 23:59:58 host app: x",
            datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC),
            datetime(2024, 12, 31, 23, 59, 58, tzinfo=UTC),
        ),
        (
            b"<13>Jan  1 00:00:02 host app: x",
            datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2025, 1, 1, 0, 0, 2, tzinfo=UTC),
        ),
        (
            b"<13>Jun 15 12:00:00 host app: x",
            datetime(2024, 6, 15, 12, 0, 30, tzinfo=UTC),
            datetime(2024, 6, 15, 12, 0, 0, tzinfo=UTC),
        ),
        (
            b"<13>Feb 29 12:00:00 host app: x",
            datetime(2025, 1, 10, 0, 0, 0, tzinfo=UTC),
            datetime(2024, 2, 29, 12, 0, 0, tzinfo=UTC),
        ),
    ],
    ids=["late-line-after-new-year", "fast-clock-before-new-year", "same-day", "leap-day"],
)
def test_yearless_timestamp_takes_year_closest_to_received_at(
    line: bytes, received_at: datetime, expected: datetime
) -> None:
    """A year-less timestamp gets the year that puts it closest to received_at."""
    assert parse(line, received_at).timestamp == expected


def test_impossible_date_stays_in_message() -> None:
    """A timestamp that names no real date is not guessed: received_at is used, text kept."""
    msg = parse(b"<13>Feb 30 12:00:00 host app: x")
    assert msg.timestamp == RECEIVED
    assert msg.message.startswith("Feb 30 12:00:00")


def test_line_without_timestamp_uses_received_at() -> None:
    """A PRI followed directly by text uses received_at and keeps the text."""
    msg = parse(b"<14>Link to shore gateway lost")
    assert msg.timestamp == RECEIVED
    assert (msg.hostname, msg.app_name, msg.message) == (None, None, "Link to shore gateway lost")


def test_line_without_timestamp_keeps_its_tag() -> None:
    """A 'tag[pid]: msg' line without timestamp or hostname still yields the tag."""
    msg = parse(b"<14>pos-sync[77]: upload queued")
    assert (msg.hostname, msg.app_name, msg.procid, msg.message) == (
        None,
        "pos-sync",
        "77",
        "upload queued",
    )


# --- Cisco ------------------------------------------------------------------------------------


def test_cisco_ios_sequence_star_and_milliseconds() -> None:
    """Cisco IOS: sequence number, '*' unsynced clock and msec parse; app is the facility."""
    msg = parse(
        b"<189>123: *Mar  1 18:46:11.123: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, "
        b"changed state to down"
    )
    assert (msg.facility, msg.severity) == (23, 5)
    assert msg.timestamp == datetime(2024, 3, 1, 18, 46, 11, 123000, tzinfo=UTC)
    assert (msg.hostname, msg.app_name, msg.procid) == (None, "LINK", None)
    assert msg.message == (
        "%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down"
    )


def test_cisco_ios_origin_hostname_and_zone() -> None:
    """Cisco IOS with 'hostname:' origin and a 'UTC' zone token before the mnemonic."""
    msg = parse(
        b"<189>45: core-rtr-01: Mar 1 18:46:11.123 UTC: %SYS-5-CONFIG_I: "
        b"Configured from console by admin on vty0 (10.0.0.5)"
    )
    assert msg.hostname == "core-rtr-01"
    assert msg.app_name == "SYS"
    assert msg.timestamp == datetime(2024, 3, 1, 18, 46, 11, 123000, tzinfo=UTC)
    assert msg.message.startswith("%SYS-5-CONFIG_I: Configured from console")


def test_cisco_ios_lost_sync_dot_and_explicit_year() -> None:
    """A '.' clock marker and an explicit year are honoured (no year inference)."""
    msg = parse(
        b"<189>46: core-rtr-01: .Mar  1 2023 18:46:11: %LINEPROTO-5-UPDOWN: Line protocol on "
        b"Interface Gi0/2, changed state to up"
    )
    assert msg.timestamp == datetime(2023, 3, 1, 18, 46, 11, tzinfo=UTC)
    assert (msg.hostname, msg.app_name) == ("core-rtr-01", "LINEPROTO")


def test_cisco_numeric_zone_offset() -> None:
    """A numeric zone token on a Cisco timestamp is applied when converting to UTC."""
    msg = parse(b"<187>7: *Mar  1 18:46:11 +02:00: %LINK-3-UPDOWN: Interface Gi0/1, changed state")
    assert msg.timestamp == datetime(2024, 3, 1, 16, 46, 11, tzinfo=UTC)


def test_cisco_asa_with_year_and_spaced_colon() -> None:
    """Cisco ASA's 'Mmm dd yyyy' timestamp and 'host : %ASA-...' layout parse."""
    msg = parse(
        b"<166>Mar 01 2024 10:00:00 fw01 : %ASA-6-302013: Built outbound TCP connection 1234 "
        b"for outside:198.51.100.9/443 (198.51.100.9/443) to inside:10.0.0.5/51000"
    )
    assert msg.timestamp == datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)
    assert (msg.hostname, msg.app_name) == ("fw01", "ASA")
    assert msg.message.startswith("%ASA-6-302013: Built outbound TCP connection")


def test_cisco_nxos_year_first() -> None:
    """NX-OS's ': yyyy Mmm dd hh:mm:ss UTC:' header parses with the leading year."""
    msg = parse(
        b"<189>: 2023 Nov  2 10:00:00 UTC: %ETHPORT-5-IF_DOWN_LINK_FAILURE: Interface "
        b"Ethernet1/1 is down (Link failure)"
    )
    assert msg.timestamp == datetime(2023, 11, 2, 10, 0, 0, tzinfo=UTC)
    assert msg.app_name == "ETHPORT"


def test_cisco_without_timestamps_keeps_origin_hostname() -> None:
    """With timestamps disabled, 'host: %MNEMONIC' still gives hostname and app."""
    msg = parse(b"<187>12: access-sw-03: %LINK-3-UPDOWN: Interface Gi1/0/4, changed state to down")
    assert msg.timestamp == RECEIVED
    assert (msg.hostname, msg.app_name) == ("access-sw-03", "LINK")


def test_cisco_without_pri_takes_severity_from_mnemonic() -> None:
    """Without PRI, facility is user (1) and the severity comes from the mnemonic."""
    msg = parse(b"123: *Mar  1 18:46:11.123: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down")
    assert (msg.facility, msg.severity) == (1, 3)
    assert msg.app_name == "LINK"


def test_cisco_mnemonic_after_real_tag_keeps_tag() -> None:
    """When a TAG precedes the mnemonic, the TAG is the app and the mnemonic stays in the message."""
    msg = parse(b"<187>Mar  5 08:00:00 rtr-02 ios[3]: %LINK-3-UPDOWN: Interface Gi0/1, changed")
    assert msg.app_name == "ios"
    assert msg.message.startswith("%LINK-3-UPDOWN")


def test_cisco_aireos_wlc_task_prefix() -> None:
    """An AireOS WLC line with 'host: *task: timestamp:' parses host, time and facility."""
    msg = parse(
        b"<131>wlc-01: *dot1xMsgTask: Jun 27 11:05:31.456: %DOT1X-3-MAX_EAP_RETRIES: "
        b"1x_auth_pae.c:3150 Max EAP retransmissions exceeded for client 00:11:22:33:44:55"
    )
    assert (msg.facility, msg.severity) == (16, 3)
    assert msg.timestamp == datetime(2024, 6, 27, 11, 5, 31, 456000, tzinfo=UTC)
    assert (msg.hostname, msg.app_name) == ("wlc-01", "DOT1X")
    assert msg.message.startswith("%DOT1X-3-MAX_EAP_RETRIES: 1x_auth_pae.c:3150")


def test_cisco_catalyst_9800_wlc_line() -> None:
    """A Catalyst 9800 WLC line with a long facility name parses like IOS-XE."""
    msg = parse(
        b"<190>1200: wlc9800-01: *Mar  5 08:04:59.871 UTC: "
        b"%CLIENT_ORCH_LOG-6-CLIENT_ADDED_TO_RUN_STATE: Chassis 1 R0/0: wncd: Username entry "
        b"(guest) joined with ssid (Guest-WiFi) for device with MAC: aaaa.bbbb.cccc"
    )
    assert msg.timestamp == datetime(2024, 3, 5, 8, 4, 59, 871000, tzinfo=UTC)
    assert (msg.hostname, msg.app_name) == ("wlc9800-01", "CLIENT_ORCH_LOG")


# --- FortiGate --------------------------------------------------------------------------------

FORTIGATE_EVENT = (
    b'<189>date=2024-05-01 time=10:00:01 devname="FGT-01" devid="FG100ETK19000000" '
    b'eventtime=1714557601000000000 tz="+0200" logid="0100032001" type="event" '
    b'subtype="system" level="information" vd="root" logdesc="Admin login successful" '
    b'user="admin" ui="https(10.0.0.5)" srcip=10.0.0.5 action="login" status="success" '
    b'msg="Administrator admin logged in successfully from https(10.0.0.5)"'
)


def test_fortigate_key_value_line() -> None:
    """FortiGate: devname is the hostname, date/time/tz the timestamp, msg the message."""
    msg = parse(FORTIGATE_EVENT)
    assert msg.format == "rfc3164"
    assert (msg.facility, msg.severity) == (23, 5)
    assert msg.timestamp == datetime(2024, 5, 1, 8, 0, 1, tzinfo=UTC)
    assert (msg.hostname, msg.app_name, msg.msgid) == ("FGT-01", "fortigate", "0100032001")
    assert msg.message == "Administrator admin logged in successfully from https(10.0.0.5)"
    assert msg.structured_data["fortigate"]["srcip"] == "10.0.0.5"
    assert msg.structured_data["fortigate"]["ui"] == "https(10.0.0.5)"


def test_fortigate_traffic_line_without_msg_or_tz() -> None:
    """A FortiGate traffic log without msg= keeps the whole line; no tz means UTC."""
    text = (
        'date=2024-05-01 time=10:00:01 devname="FGT-01" logid="0000000013" type="traffic" '
        'srcip=10.1.2.3 dstip=8.8.8.8 action="deny" policyid=0'
    )
    msg = parse(b"<188>" + text.encode())
    assert msg.timestamp == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)
    assert msg.message == text
    assert msg.structured_data["fortigate"]["action"] == "deny"


def test_fortigate_without_pri_takes_severity_from_level() -> None:
    """Without PRI, a FortiGate line's level= gives the severity."""
    msg = parse(b'date=2024-05-01 time=10:00:01 devname="FGT-01" level="warning" msg="x"')
    assert (msg.facility, msg.severity) == (1, 4)


def test_plain_key_value_line_is_not_fortigate() -> None:
    """A key=value line without FortiGate's fields is not mistaken for one."""
    msg = parse(b"<14>status=ok link=vsat rtt_ms=612")
    assert msg.app_name is None
    assert msg.structured_data == {}


# --- missing PRI, hostile input ---------------------------------------------------------------


def test_missing_pri_defaults_to_user_notice() -> None:
    """A line without PRI is facility user (1), severity notice (5), per RFC 3164 4.3.3."""
    msg = parse(b"Mar  5 08:00:00 host app[1]: started")
    assert (msg.facility, msg.severity) == (1, 5)
    assert (msg.hostname, msg.app_name, msg.message) == ("host", "app", "started")


def test_unidentifiable_pri_is_kept_as_text() -> None:
    """A non-numeric '<abc>' is an unidentifiable PRI: default PRI and the text is kept."""
    msg = parse(b"<abc>hello")
    assert (msg.facility, msg.severity, msg.message) == (1, 5, "<abc>hello")


def test_pri_boundaries() -> None:
    """PRI 0 and 191 are accepted; 192 is not."""
    assert (parse(b"<0>x").facility, parse(b"<0>x").severity) == (0, 0)
    assert (parse(b"<191>x").facility, parse(b"<191>x").severity) == (23, 7)
    assert "out of range" in parse_error(b"<192>x").reason


@pytest.mark.parametrize(
    ("data", "reason_part"),
    [
        (b"", "empty"),
        (b"   \r\n\t", "empty"),
        ("", "empty"),
        (b"<13>Mar  5 08:00:00 host app: a\x00b", "NUL"),
        (b"<999>hello", "out of range"),
        (b"<1234>hello", "out of range"),
        (b"<13>" + b"x" * MAX_MESSAGE_BYTES, "limit"),
        (bytes(range(1, 256)), "not text"),
        (b"\xde\xad\xbe\xef\xca\xfe\xba\xbe\x8f\x9a", "not text"),
        (b"\x1b\x02\x03\x04garbage", "not text"),
    ],
    ids=["empty", "whitespace", "empty-str", "nul", "pri-999", "pri-4-digits", "huge", "binary",
         "invalid-utf8", "control-bytes"],
)
def test_hostile_input_is_rejected_with_reason(data: bytes | str, reason_part: str) -> None:
    """Empty, NUL, oversize, bad PRI and binary input raise SyslogParseError with a reason."""
    assert reason_part in parse_error(data).reason


def test_exactly_max_bytes_is_accepted() -> None:
    """A message of exactly MAX_MESSAGE_BYTES is still parsed."""
    data = b"<13>" + b"x" * (MAX_MESSAGE_BYTES - 4)
    assert len(parse(data).message) == MAX_MESSAGE_BYTES - 4


def test_wrong_input_types_raise_parse_error() -> None:
    """Non-bytes data or a non-datetime received_at raise SyslogParseError, not TypeError."""
    with pytest.raises(SyslogParseError):
        parse_syslog(42, received_at=RECEIVED)  # type: ignore[arg-type]
    with pytest.raises(SyslogParseError):
        parse_syslog(b"<13>x", received_at="now")  # type: ignore[arg-type]


def test_str_input_and_trailing_newline() -> None:
    """str input is accepted and a trailing CRLF is not part of the message."""
    msg = parse("<13>Mar  5 08:00:00 host app: café\r\n")
    assert msg.message == "café"


def test_naive_received_at_is_taken_as_utc() -> None:
    """A naive received_at is treated as UTC so the result is still timezone-aware."""
    msg = parse(b"<13>no timestamp", received_at=datetime(2024, 3, 5, 8, 5))
    assert msg.timestamp == RECEIVED
    assert msg.timestamp.tzinfo is UTC


def test_received_at_in_other_zone_is_converted() -> None:
    """A received_at in another zone is converted, so the fallback timestamp is UTC."""
    local = RECEIVED.astimezone(timezone(timedelta(hours=5, minutes=30)))
    msg = parse(b"<13>no timestamp", received_at=local)
    assert msg.timestamp == RECEIVED
    assert msg.timestamp.utcoffset() == timedelta(0)


# --- levels -----------------------------------------------------------------------------------


def test_level_names_follow_conventions() -> None:
    """Severities 0..7 map to the level names in docs/CONVENTIONS.md."""
    assert dict(LEVEL_BY_SEVERITY) == {
        0: "emergency",
        1: "alert",
        2: "critical",
        3: "error",
        4: "warning",
        5: "notice",
        6: "info",
        7: "debug",
    }
    assert level_of(parse(b"<38>Mar  5 08:00:00 h sshd[1]: x").severity) == "info"


@pytest.mark.parametrize("severity", [-1, 8, 99])
def test_level_of_rejects_out_of_range(severity: int) -> None:
    """level_of refuses severities outside 0..7."""
    with pytest.raises(ValueError, match="0..7"):
        level_of(severity)


# --- TCP framing ------------------------------------------------------------------------------


def decode_all(chunks: list[bytes], max_frame_bytes: int = 65536) -> list[bytes | FramingError]:
    decoder = OctetFrameDecoder(max_frame_bytes=max_frame_bytes)
    items: list[bytes | FramingError] = []
    for chunk in chunks:
        items.extend(decoder.feed(chunk))
    items.extend(decoder.flush())
    return items


def octet_counted(frame: bytes) -> bytes:
    return str(len(frame)).encode() + b" " + frame


FRAME_A = b"<13>1 2024-05-01T10:00:00Z host app - - - hello\nsecond line"
FRAME_B = b"<14>Mar  5 08:00:00 host app: world"
FRAME_C = b"<189>123: *Mar  1 18:46:11.123: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down"
MIXED_STREAM = (
    octet_counted(FRAME_A) + FRAME_B + b"\n" + octet_counted(FRAME_C) + FRAME_B + b"\r\n"
    + FRAME_C + b"\x00"
)
MIXED_FRAMES = [FRAME_A, FRAME_B, FRAME_C, FRAME_B, FRAME_C]


def test_octet_counted_frame_is_transparent() -> None:
    """An octet-counted frame may contain LF and is returned byte for byte."""
    assert decode_all([octet_counted(FRAME_A)]) == [FRAME_A]


@pytest.mark.parametrize("terminator", [b"\n", b"\r\n", b"\x00"])
def test_non_transparent_terminators(terminator: bytes) -> None:
    """LF, CRLF and NUL each end a non-transparent frame, and are not part of it."""
    assert decode_all([FRAME_B + terminator + FRAME_C + terminator]) == [FRAME_B, FRAME_C]


def test_mixed_framings_in_one_stream() -> None:
    """Octet-counted and non-transparent frames are detected per frame in one stream."""
    assert decode_all([MIXED_STREAM]) == MIXED_FRAMES


def test_split_at_every_byte_gives_same_frames() -> None:
    """Cutting the stream into two chunks at any byte yields the same frames."""
    for cut in range(len(MIXED_STREAM) + 1):
        assert decode_all([MIXED_STREAM[:cut], MIXED_STREAM[cut:]]) == MIXED_FRAMES, cut


def test_byte_by_byte_feeding_gives_same_frames() -> None:
    """Feeding one byte at a time yields the same frames as one big chunk."""
    chunks = [MIXED_STREAM[i : i + 1] for i in range(len(MIXED_STREAM))]
    assert decode_all(chunks) == MIXED_FRAMES


def test_feed_returns_frames_as_soon_as_complete() -> None:
    """feed returns a frame in the call that completes it, not later."""
    decoder = OctetFrameDecoder()
    assert decoder.feed(octet_counted(FRAME_A)[:-1]) == []
    assert decoder.feed(octet_counted(FRAME_A)[-1:]) == [FRAME_A]
    assert decoder.buffered_bytes == 0


def test_blank_lines_between_frames_are_ignored() -> None:
    """Empty lines and padding between frames do not produce empty frames."""
    assert decode_all([b"\n\r\n" + FRAME_B + b"\n\n\n  \x00" + FRAME_B + b"\n"]) == [FRAME_B, FRAME_B]


def test_cisco_sequence_number_is_not_an_octet_count() -> None:
    """Digits followed by ':' (Cisco without PRI) are line-framed, not octet-counted."""
    assert decode_all([b"123: *Mar  1 18:46:11: %SYS-5-RESTART: x\n"]) == [
        b"123: *Mar  1 18:46:11: %SYS-5-RESTART: x"
    ]


def test_oversize_declared_length_then_recovery() -> None:
    """A declared length above the limit yields a FramingError, then decoding resumes after LF."""
    stream = b"70000 <13>" + b"x" * 100 + b"\n" + FRAME_B + b"\n" + octet_counted(FRAME_C)
    items = decode_all([stream])
    assert isinstance(items[0], FramingError)
    assert "70000" in items[0].reason
    assert items[1:] == [FRAME_B, FRAME_C]


def test_absurd_declared_length_is_an_error_not_a_crash() -> None:
    """A declared length with hundreds of digits is reported, not converted."""
    items = decode_all([b"9" * 5000 + b" <13>x\n" + FRAME_B + b"\n"])
    assert isinstance(items[0], FramingError)
    assert items[1:] == [FRAME_B]


def test_resync_discards_without_buffering() -> None:
    """While skipping an oversize frame, the decoder holds no bytes however many arrive."""
    decoder = OctetFrameDecoder(max_frame_bytes=1024)
    first = decoder.feed(b"999999 <13>")
    assert len(first) == 1 and isinstance(first[0], FramingError)
    for _ in range(100):
        assert decoder.feed(b"y" * 4096) == []
        assert decoder.buffered_bytes == 0
    assert decoder.feed(b"tail\n" + FRAME_B + b"\n") == [FRAME_B]


def test_unterminated_oversize_frame_is_cut_and_stream_recovers() -> None:
    """An unterminated frame past max_frame_bytes yields one FramingError and memory stays bounded."""
    decoder = OctetFrameDecoder(max_frame_bytes=64)
    items = decoder.feed(b"<13>" + b"z" * 100)
    assert len(items) == 1 and isinstance(items[0], FramingError)
    assert decoder.buffered_bytes == 0
    assert decoder.feed(b"z" * 500) == []
    assert decoder.feed(b"end of junk\n" + FRAME_B[:40] + b"\n") == [FRAME_B[:40]]


def test_terminated_oversize_frame_in_one_chunk_is_an_error() -> None:
    """A complete line longer than max_frame_bytes is reported, and the next frame still comes."""
    items = decode_all([b"<13>" + b"z" * 100 + b"\n<13>ok\n"], max_frame_bytes=64)
    assert isinstance(items[0], FramingError)
    assert items[1:] == [b"<13>ok"]


def test_frame_of_exactly_max_bytes_is_accepted() -> None:
    """Frames of exactly max_frame_bytes pass with either framing."""
    frame = b"<13>" + b"m" * 60
    assert decode_all([octet_counted(frame), frame + b"\n"], max_frame_bytes=64) == [frame, frame]


def test_flush_returns_trailing_unterminated_frame() -> None:
    """At close, flush returns the last line that had no terminator, then nothing more."""
    decoder = OctetFrameDecoder()
    assert decoder.feed(FRAME_B + b"\n" + FRAME_C) == [FRAME_B]
    assert decoder.flush() == [FRAME_C]
    assert decoder.flush() == []


def test_flush_returns_arrived_part_of_cut_octet_frame() -> None:
    """A connection closed mid octet-counted frame yields the bytes that arrived, without the count."""
    decoder = OctetFrameDecoder()
    assert decoder.feed(octet_counted(FRAME_C)[:30]) == []
    assert decoder.flush() == [octet_counted(FRAME_C)[:30].split(b" ", 1)[1]]


def test_flush_while_resyncing_returns_nothing() -> None:
    """Bytes of a discarded oversize frame are not returned by flush."""
    decoder = OctetFrameDecoder(max_frame_bytes=16)
    decoder.feed(b"500 <13>partial")
    assert decoder.flush() == []


def test_max_frame_bytes_must_be_positive() -> None:
    """A non-positive max_frame_bytes is refused at construction."""
    with pytest.raises(ValueError):
        OctetFrameDecoder(max_frame_bytes=0)


# --- properties -------------------------------------------------------------------------------


def assert_parses_or_rejects_cleanly(data: bytes | str, received_at: datetime) -> None:
    try:
        msg = parse_syslog(data, received_at=received_at)
    except SyslogParseError as error:
        assert error.reason
        assert not error.reason.startswith(INTERNAL_FAILURE_REASON), error.reason
        return
    assert isinstance(msg, SyslogMessage)
    assert msg.timestamp.tzinfo is UTC
    assert 0 <= msg.facility <= 23
    assert 0 <= msg.severity <= 7
    assert msg.format in ("rfc3164", "rfc5424")


received_ats = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)

# Fragments of real headers, so generated lines reach the deep parsing paths, not just the
# "no PRI, no timestamp" one that random bytes mostly hit.
header_fragments = st.sampled_from(
    [
        "<13>", "<189>", "<0>", "<191>", "<", ">", "1 ", "- ", "-", "[", "]", '"', "\\", "=",
        ' a="b"', "[id@1", "2024-05-01T10:00:00Z ", "2024-05-01T10:00:00.123+02:00 ",
        "9999-12-31T23:59:59-23:59 ", "0001-01-01T00:00:00+23:59 ", "Dec 31 23:59:59 ",
        "Feb 29 12:00:00 ", "Jan  1 00:00:00.123 UTC: ", "*", ".", "123: ", "host: ",
        "*task: ", "%LINK-3-UPDOWN: ", "sshd[1234]: ", "host ", " : ", "date=2024-05-01 ",
        "time=10:00:01 ", 'devname="FGT" ', 'tz="+9999" ', "tz=-0530 ", 'msg="', "\ufeff",
        "\ufffd", "\r\n", " ", "x",
    ]
)
syslog_like_text = st.lists(header_fragments, max_size=14).map("".join)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), received_at=received_ats)
@example(data=b"<13>Dec 31 23:59:59 x", received_at=datetime(9999, 12, 30, tzinfo=UTC))
@example(data=b"<13>Jan  1 00:00:00 x", received_at=datetime(1, 1, 2, tzinfo=UTC))
def test_property_arbitrary_bytes_parse_or_raise_parse_error(
    data: bytes, received_at: datetime
) -> None:
    """For any bytes, parse_syslog returns a UTC-stamped message or raises SyslogParseError."""
    assert_parses_or_rejects_cleanly(data, received_at)


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(text=syslog_like_text, tail=st.text(max_size=20), received_at=received_ats)
@example(text="<13>1 0001-01-01T00:00:00+23:59 h a - - -", tail="", received_at=RECEIVED)
@example(text="<13>1 9999-12-31T23:59:59-23:59 h a - - -", tail="", received_at=RECEIVED)
def test_property_syslog_shaped_text_parses_or_raises_parse_error(
    text: str, tail: str, received_at: datetime
) -> None:
    """For text built from real header fragments, parsing never fails any other way."""
    assert_parses_or_rejects_cleanly(text + tail, received_at)


sd_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=' =]"'),
    min_size=1,
    max_size=12,
)
sd_values = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=20
)
header_tokens = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=16
).filter(lambda token: token != "-")


def escape_sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


@given(
    hostname=header_tokens,
    app_name=header_tokens,
    structured_data=st.dictionaries(
        sd_names, st.dictionaries(sd_names, sd_values, max_size=3), max_size=3
    ),
    message=st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=40),
)
def test_property_rfc5424_round_trip(
    hostname: str, app_name: str, structured_data: dict[str, dict[str, str]], message: str
) -> None:
    """Any well-formed RFC 5424 line built from fields parses back to those fields."""
    sd_text = "".join(
        f"[{sd_id}" + "".join(f' {k}="{escape_sd_value(v)}"' for k, v in params.items()) + "]"
        for sd_id, params in structured_data.items()
    ) or "-"
    line = f"<165>1 2024-05-01T10:00:00.5+01:00 {hostname} {app_name} - - {sd_text} {message}"
    msg = parse(line)
    assert msg.timestamp == datetime(2024, 5, 1, 9, 0, 0, 500000, tzinfo=UTC)
    assert (msg.hostname, msg.app_name) == (hostname, app_name)
    assert msg.structured_data == structured_data
    # Only the line's trailing whitespace and a BOM opening MSG are not part of the message.
    assert msg.message == message.rstrip(" \t\r\n").removeprefix("\ufeff")


non_transparent_frames = st.builds(
    lambda pri, body: f"<{pri}>".encode() + body,
    st.integers(0, 191),
    st.binary(max_size=60).map(lambda body: body.replace(b"\n", b"").replace(b"\x00", b"")),
).map(lambda frame: frame.rstrip(b"\r"))
octet_frames = st.binary(min_size=1, max_size=80)


@st.composite
def framed_streams(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    """A stream of valid frames, each with its own framing, and the frames it should yield."""
    frames: list[bytes] = []
    stream = b""
    for _ in range(draw(st.integers(0, 6))):
        framing = draw(st.sampled_from(["octet", "lf", "crlf", "nul"]))
        if framing == "octet":
            frame = draw(octet_frames)
            stream += octet_counted(frame)
        else:
            frame = draw(non_transparent_frames)
            stream += frame + {"lf": b"\n", "crlf": b"\r\n", "nul": b"\x00"}[framing]
        frames.append(frame)
    return frames, stream


@given(framed=framed_streams(), data=st.data())
def test_property_any_chunking_yields_same_frames(
    framed: tuple[list[bytes], bytes], data: st.DataObject
) -> None:
    """However a stream of valid frames is cut into chunks, the decoder returns the same frames."""
    frames, stream = framed
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[start:end] for start, end in zip(bounds, bounds[1:])]
    assert decode_all(chunks) == frames
