"""Bad input through a real `aiops up`: junk on every bus subject ends in the consuming roles'
DLQs with a reason and a counter, junk on the syslog TCP listener is counted frame by frame, and
the node keeps working afterwards."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import uuid

import httpx
import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiops_core.bus import (
    ANOMALY_DETECTED, ANOMALY_ENRICHED, CONSUMERS, FLEET_STREAM, INCIDENTS_CREATED, INCIDENTS_ENRICHED,
    INCIDENTS_STATUS, INCIDENTS_UPDATED, LOGS_RAW, TELEMETRY,
)
from services.ingest.syslog import FramingError, OctetFrameDecoder
from tests.support import metric_value, wait_until

pytestmark = pytest.mark.e2e

CONSUMED_SUBJECTS = (LOGS_RAW, TELEMETRY, ANOMALY_DETECTED, ANOMALY_ENRICHED, INCIDENTS_CREATED,
                     INCIDENTS_UPDATED, INCIDENTS_ENRICHED, INCIDENTS_STATUS)


def consuming_roles(subject: str) -> set[str]:
    """The roles that decode the subject's messages, and so dead-letter what does not decode. The
    archiver takes logs.raw undecoded: the engine skips a bad line (counted as unreadable)."""
    return {spec.role for spec in CONSUMERS.values()
            if spec.stream != FLEET_STREAM and spec.decode and subject in spec.subjects}


def archive_unreadable(client: httpx.Client) -> float:
    return metric_value(client, "aiops_ingested_lines_total", source="archive", outcome="unreadable")


def junk(marker: str) -> dict[str, bytes]:
    """Three kinds of bad message, each carrying the marker where the DLQ payload keeps it."""
    return {
        "garbage": f"{marker} \x00\xff not json at all".encode("utf-8", errors="surrogateescape"),
        "schema-invalid": json.dumps({"schema_version": 1, "marker": marker, "tracking_id": "not-a-uuid"}).encode(),
        # Valid JSON of a plausible shape, far over the contracts' field limits (LogEntry.message
        # 64 KiB, every identifier 64 characters), under NATS' 4 MB max_payload.
        "oversized": json.dumps({"marker": marker, "ship_id": "x" * 300_000, "message": "y" * 700_000}).encode(),
    }


def dlq_total(client: httpx.Client) -> dict[str, float]:
    totals: dict[str, float] = {}
    for match in re.finditer(r'^aiops_dlq_total\{([^}]*)\} ([0-9.e+]+)$', client.get("/metrics").text, re.M):
        role = re.search(r'role="([^"]+)"', match.group(1)).group(1)
        totals[role] = totals.get(role, 0.0) + float(match.group(2))
    return totals


async def publish_junk(nats_port: int, marker: str) -> None:
    nc = await nats.connect(f"nats://127.0.0.1:{nats_port}")
    try:
        js = nc.jetstream()
        for subject in CONSUMED_SUBJECTS:
            for kind, payload in junk(marker).items():
                await js.publish(subject, payload, headers={"Nats-Msg-Id": f"{marker}:{subject}:{kind}"})
        # Over max_payload: the server refuses it at the door, so no role ever sees it.
        with pytest.raises(nats.errors.MaxPayloadError):
            await nc.publish(LOGS_RAW, b"z" * (5 * 1024 * 1024))
    finally:
        await nc.close()


async def dead_letters(nats_port: int) -> list[dict]:
    nc = await nats.connect(f"nats://127.0.0.1:{nats_port}")
    try:
        js = nc.jetstream()
        info = await js.stream_info("DLQ")
        letters = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg("DLQ", seq)
            letters.append({"subject_on_dlq": message.subject, **json.loads(message.data)})
        return letters
    finally:
        await nc.close()


def test_junk_on_every_subject_is_dead_lettered_by_each_consuming_role(node):
    """Garbage, schema-invalid and oversized messages on each consumed subject reach dlq.<role> of
    every role that consumes it, with the reason; aiops_dlq_total counts them; a valid log then
    still goes all the way to an incident."""
    marker = f"junk-{uuid.uuid4()}"
    with node.client() as client:
        before = dlq_total(client)
        unreadable_before = archive_unreadable(client)
        asyncio.run(publish_junk(node.nats_port, marker))
        expected = {(subject, kind, role) for subject in CONSUMED_SUBJECTS for kind in junk(marker)
                    for role in consuming_roles(subject)}

        def arrived():
            found = set()
            for letter in asyncio.run(dead_letters(node.nats_port)):
                if marker not in letter["payload"]:
                    continue
                kind = next(k for k in junk(marker) if (k == "garbage" and "not json" in letter["payload"])
                            or (k == "schema-invalid" and "not-a-uuid" in letter["payload"])
                            or (k == "oversized" and "xxxxxxxx" in letter["payload"]))
                assert letter["subject_on_dlq"] == f"dlq.{letter['role']}"
                assert letter["reason"] and letter["error_type"] == "invalid"
                found.add((letter["subject"], kind, letter["role"]))
            return found if found >= expected else None

        found = wait_until(arrived, timeout=60, interval=1.0)
        assert found == expected
        after = dlq_total(client)
        for role in {role for _, _, role in expected}:
            letters = sum(1 for _, _, r in expected if r == role)
            assert after.get(role, 0) - before.get(role, 0) >= letters, (role, before, after)

        # The archive could not read the garbage and the bad tracking id; the oversized one is
        # JSON without a tracking id, which its view leaves out.
        wait_until(lambda: archive_unreadable(client) - unreadable_before >= 2 or None, timeout=30)

        assert client.get("/health").status_code == 200
        tracking_id = client.post("/api/v3/logs", json=[{
            "device_id": "acc-sw-05", "service": "envmon", "level": "error",
            "message": "Fan tray 1 failed after junk", "ship_id": "ms-aurora",
        }]).json()["tracking_ids"][0]

        def traced():
            body = client.get(f"/api/v3/trace/{tracking_id}").json()
            return body if body.get("incident_id") and len(body["stages"]) == 5 else None

        wait_until(traced, timeout=60)


def ingest_counts(client: httpx.Client) -> float:
    return sum(
        metric_value(client, "aiops_ingested_lines_total", source="syslog", outcome=outcome)
        for outcome in ("accepted", "rejected", "overflow")
    )


@given(stream=st.lists(st.one_of(
    st.binary(max_size=300),
    st.builds(lambda n, body: f"{n} ".encode() + body, st.integers(0, 10**9), st.binary(max_size=100)),
    st.sampled_from([b"\n", b"\r\n", b"\x00", b"<999>", b"<13>1 - - - - - -", b"999999999999 "]),
), max_size=12))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_any_bytes_on_the_syslog_tcp_listener_are_accounted_for_frame_by_frame(node, stream):
    """Whatever arrives over TCP, every frame the RFC 6587 decoder cuts is either accepted or
    rejected (counted, dead-lettered), and the listener keeps serving."""
    data = b"".join(stream)
    decoder = OctetFrameDecoder()
    frames = [f for f in decoder.feed(data)] + list(decoder.flush())
    expected = len([f for f in frames if isinstance(f, (bytes, FramingError))])
    with node.client() as client:
        before = ingest_counts(client)
        with socket.create_connection(("127.0.0.1", node.syslog_port), timeout=10) as sock:
            sock.sendall(data)
        wait_until(lambda: ingest_counts(client) - before >= expected, timeout=20, interval=0.05)
        assert ingest_counts(client) - before == expected
