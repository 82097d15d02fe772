"""Integration tests of the anomaly-detection role's wiring on a real JetStream server and chDB."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from aiops_core.bus import ANOMALY_DETECTED, LOGS_RAW, TELEMETRY, Bus, encode
from aiops_core.devices import DEVICE_COLUMNS, Device
from aiops_core.models import AnomalyDetected, DeadLetter, LogEntry, LogLevel, MetricSample, StageStamp, utc_now
from aiops_core.policy import DEFAULT_POLICIES_DIR, load_policy
from aiops_core.runtime import Runtime
from aiops_core.settings import Settings
from services.anomaly_detection import state
from services.anomaly_detection.app import AnomalyDetectionRole
from services.anomaly_detection.handlers import STAGE, anomaly_id_for
from tests.support import async_wait_until

pytestmark = pytest.mark.integration

ROLE = "anomaly-detection"


def log_entry(ship_id: str, message: str, level: LogLevel = LogLevel.ERROR) -> LogEntry:
    now = utc_now()
    return LogEntry(
        tracking_id=str(uuid.uuid4()), ship_id=ship_id, device_id="vsat-modem-01", service="modem",
        level=level, message=message, timestamp=now - timedelta(seconds=1), ingestion_timestamp=now,
        source="syslog", trace=[StageStamp(stage="ingest", service="ingest", at=now, duration_ms=0.3)],
    )


def metric_sample(ship_id: str, device_id: str, metric: str, value: float, at: datetime) -> MetricSample:
    return MetricSample(
        tracking_id=str(uuid.uuid4()), ship_id=ship_id, device_id=device_id, metric=metric, value=value,
        timestamp=at, ingestion_timestamp=at,
    )


class Node:
    """One role on a runtime of its own, as services/node.py wires it."""

    def __init__(self, runtime: Runtime, role: AnomalyDetectionRole) -> None:
        self.runtime = runtime
        self.role = role

    @classmethod
    async def start(cls, url: str, store, data_dir) -> Node:
        settings = Settings(data_dir=data_dir, nats_url=url, bus_batch=64, bus_max_deliver=3)
        bus = await Bus.connect(url, ROLE)
        await bus.ensure_topology(settings.bus_max_deliver, settings.bus_ack_wait_seconds)
        runtime = Runtime(settings=settings, policy=load_policy(DEFAULT_POLICIES_DIR), bus=bus, store=store)
        role = AnomalyDetectionRole()
        await role.start(runtime)
        return cls(runtime, role)

    async def stop(self) -> None:
        self.runtime.stop.set()
        await self.role.stop()
        if self.runtime.tasks:
            await asyncio.wait(self.runtime.tasks, timeout=10)
        await self.runtime.bus.close()


async def fetch_all(sub, wanted: int, timeout: float = 15.0) -> list:
    """Fetches from a pull subscription until `wanted` messages arrived (acking them)."""
    got = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < wanted and asyncio.get_running_loop().time() < deadline:
        try:
            batch = await sub.fetch(wanted - len(got), timeout=1.0)
        except asyncio.TimeoutError:
            continue
        for msg in batch:
            await msg.ack()
        got.extend(batch)
    return got


async def drained(bus: Bus, durable: str) -> bool:
    pending, ack_pending = await bus.consumer_lag(durable)
    return pending == 0 and ack_pending == 0


async def test_logs_become_anomalies_once_and_garbage_goes_to_the_dlq(nats_server, store, tmp_path) -> None:
    """A pattern log yields one AnomalyDetected; its redelivery adds nothing; garbage is dead-lettered and the role goes on."""
    ship_id = f"ship-{uuid.uuid4().hex[:8]}"
    node = await Node.start(nats_server.url, store, tmp_path / "data")
    client = await Bus.connect(nats_server.url, "test-client")
    try:
        anomalies = await client.js.pull_subscribe(ANOMALY_DETECTED, stream="ANOMALIES")
        dlq = await client.js.pull_subscribe(f"dlq.{ROLE}", stream="DLQ")

        entry = log_entry(ship_id, "Demodulator 1: RX carrier lost, Es/No 0.0 dB", level=LogLevel.CRITICAL)
        await client.js.publish(LOGS_RAW, encode(entry), headers={"Nats-Msg-Id": entry.tracking_id})
        [msg] = await fetch_all(anomalies, 1)
        anomaly = AnomalyDetected.model_validate_json(msg.data)
        assert anomaly.tracking_id == entry.tracking_id
        assert anomaly.detector == "log_pattern" and anomaly.evidence["pattern"] == "vsat-carrier-lost"
        assert anomaly.anomaly_id == anomaly_id_for(entry.tracking_id, "log_pattern")
        assert msg.headers["Nats-Msg-Id"] == anomaly.anomaly_id
        assert [s.stage for s in anomaly.trace] == ["ingest", STAGE]
        assert anomaly.ingestion_timestamp == entry.ingestion_timestamp
        assert anomaly.event_timestamp == entry.timestamp
        assert (await client.js.stream_info("ANOMALIES")).state.messages == 1

        # The same log again (as a redelivery would bring it), under another stream message id.
        await client.js.publish(LOGS_RAW, encode(entry), headers={"Nats-Msg-Id": f"{entry.tracking_id}:again"})
        assert (await client.js.stream_info("LOGS")).state.messages == 2
        await async_wait_until(lambda: drained(client, "anomaly-detection-logs"))
        assert (await client.js.stream_info("ANOMALIES")).state.messages == 1

        await client.js.publish(LOGS_RAW, b"\x00\xffnot json at all")
        [dead] = await fetch_all(dlq, 1)
        letter = DeadLetter.model_validate_json(dead.data)
        assert letter.role == ROLE and letter.subject == LOGS_RAW
        assert "invalid" in letter.reason or "undecodable" in letter.reason

        after = log_entry(ship_id, "%LINK-3-UPDOWN: Interface GigabitEthernet1/0/7, changed state to down")
        await client.js.publish(LOGS_RAW, encode(after), headers={"Nats-Msg-Id": after.tracking_id})
        [msg] = await fetch_all(anomalies, 1)
        assert AnomalyDetected.model_validate_json(msg.data).tracking_id == after.tracking_id
    finally:
        await client.close()
        await node.stop()


async def test_metric_thresholds_use_device_kinds_from_the_registry(nats_server, store, tmp_path) -> None:
    """Starlink latency held past 180 s is an anomaly once the registry names the device's kind."""
    ship_id = f"ship-{uuid.uuid4().hex[:8]}"
    terminal = Device(ship_id=ship_id, device_id="starlink-01", kind="starlink_terminal")
    await store.insert("devices", DEVICE_COLUMNS, [terminal.row()])
    node = await Node.start(nats_server.url, store, tmp_path / "data")
    client = await Bus.connect(nats_server.url, "test-client")
    try:
        anomalies = await client.js.pull_subscribe(ANOMALY_DETECTED, stream="ANOMALIES")
        start = datetime(2024, 6, 1, 8, 0, tzinfo=timezone.utc)
        samples = [metric_sample(ship_id, "starlink-01", "latency_ms", 300.0, start + timedelta(seconds=60 * i)) for i in range(4)]
        for s in samples:
            await client.js.publish(TELEMETRY, encode(s), headers={"Nats-Msg-Id": s.tracking_id})
        [msg] = await fetch_all(anomalies, 1)
        anomaly = AnomalyDetected.model_validate_json(msg.data)
        assert anomaly.detector == "metric_threshold"
        assert anomaly.tracking_id == samples[3].tracking_id
        assert anomaly.metric == "latency_ms" and anomaly.value == 300.0
        assert anomaly.evidence["device_kind"] == "starlink_terminal"
    finally:
        await client.close()
        await node.stop()


async def test_state_is_snapshotted_on_stop_and_reloaded_at_start(nats_server, store, tmp_path) -> None:
    """Templates learnt before a restart keep their ids after it."""
    ship_id = f"ship-{uuid.uuid4().hex[:8]}"
    data_dir = tmp_path / "data"
    node = await Node.start(nats_server.url, store, data_dir)
    client = await Bus.connect(nats_server.url, "test-client")
    try:
        anomalies = await client.js.pull_subscribe(ANOMALY_DETECTED, stream="ANOMALIES")
        first = log_entry(ship_id, "Demodulator 1: RX carrier lost")
        await client.js.publish(LOGS_RAW, encode(first), headers={"Nats-Msg-Id": first.tracking_id})
        [msg] = await fetch_all(anomalies, 1)
        template_id = AnomalyDetected.model_validate_json(msg.data).template_id
    finally:
        await node.stop()
    directory = state.state_dir(data_dir)
    assert (directory / state.TEMPLATES_FILE).exists() and (directory / state.BASELINES_FILE).exists()

    node = await Node.start(nats_server.url, store, data_dir)
    try:
        assert node.role.logs is not None and node.role.logs.miner.lines == 1
        second = log_entry(ship_id, "Demodulator 2: RX carrier lost")
        await client.js.publish(LOGS_RAW, encode(second), headers={"Nats-Msg-Id": second.tracking_id})
        [msg] = await fetch_all(anomalies, 1)
        assert AnomalyDetected.model_validate_json(msg.data).template_id == template_id
    finally:
        await client.close()
        await node.stop()
