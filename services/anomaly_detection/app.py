"""The anomaly-detection role's wiring: `logs.raw` and `telemetry.metrics` in, `anomaly.detected`
out, and the detector state snapshotted to `<data_dir>/detector-state/` on a timer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import orjson
from fastapi import APIRouter
from pydantic import BaseModel

from aiops_core import metrics
from aiops_core.bus import ANOMALY_DETECTED, Incoming, Outgoing, Rejected
from aiops_core.devices import LOAD_DEVICES_SQL, DeviceRegistry, device_from_row
from aiops_core.logging import StructuredLogger, tracking
from aiops_core.models import AnomalyDetected, LogEntry, MetricSample
from aiops_core.runtime import Runtime
from services.anomaly_detection import state
from services.anomaly_detection.handlers import STAGE, LogAnalyzer, MetricAnalyzer

log = StructuredLogger.get_logger(__name__, service="anomaly-detection")

# logs.raw messages per batch: each holds up to LINES_PER_MESSAGE lines, so a batch is at most
# ~4,000 lines (well under a second of work with the state lock held) when a backlog is drained.
LOG_MESSAGES_PER_BATCH = 16


class AnomalyDetectionRole:
    name = STAGE

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.registry = DeviceRegistry()
        self.registry_loaded = False
        self.logs: LogAnalyzer | None = None
        self.metrics: MetricAnalyzer | None = None
        # Inputs handled since the last snapshot: an idle role does not rewrite its files.
        self._changes = 0
        # Held while a batch is analysed and while the state is serialised (in a thread, so the
        # node's other roles keep the event loop): a snapshot never sees half a batch.
        self._state_lock = asyncio.Lock()

    async def start(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.logs, self.metrics = await self._restored_analyzers()
        await self._load_registry()
        runtime.consume("anomaly-detection-logs", self.handle_logs, batch=LOG_MESSAGES_PER_BATCH)
        runtime.consume("anomaly-detection-metrics", self.handle_metrics)
        interval = runtime.policy.detect.template.snapshot_interval_seconds
        runtime.spawn(self._snapshot_periodically(interval), "anomaly-detection:snapshots")

    async def stop(self) -> None:
        if self.runtime is not None and self.logs is not None:
            await self.save_snapshot()

    def routers(self) -> list[APIRouter]:
        return []

    # --- handling ---------------------------------------------------------------------------
    async def handle_logs(self, items: list[Incoming]) -> list[Sequence[Outgoing] | BaseException]:
        assert self.logs is not None
        return await self._handle(items, LogEntry, self.logs.analyze)

    async def handle_metrics(self, items: list[Incoming]) -> list[Sequence[Outgoing] | BaseException]:
        assert self.metrics is not None
        return await self._handle(items, MetricSample, self.metrics.analyze)

    async def _handle(
        self,
        items: list[Incoming],
        expected: type[BaseModel],
        analyze: Callable[[BaseModel], AnomalyDetected | None],
    ) -> list[Sequence[Outgoing] | BaseException]:
        """The batch in order, one result per input; a failing input fails alone."""
        assert self.runtime is not None
        delay_ms = self.runtime.settings.fault_injection_delay_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        async with self._state_lock:
            return self._analyze_batch(items, expected, analyze)

    def _analyze_batch(
        self,
        items: list[Incoming],
        expected: type[BaseModel],
        analyze: Callable[[BaseModel], AnomalyDetected | None],
    ) -> list[Sequence[Outgoing] | BaseException]:
        results: list[Sequence[Outgoing] | BaseException] = []
        for item in items:
            message = item.message
            with tracking(getattr(message, "tracking_id", None)):
                started = time.perf_counter()
                if not isinstance(message, expected):
                    results.append(Rejected(f"expected {expected.__name__}, got {type(message).__name__}"))
                    continue
                try:
                    anomaly = analyze(message)
                except Exception as exc:  # noqa: BLE001 - the bus retries it, then dead-letters it
                    results.append(exc)
                    continue
                results.append([Outgoing(ANOMALY_DETECTED, anomaly, anomaly.anomaly_id)] if anomaly else [])
                metrics.STAGE_LATENCY.labels(STAGE).observe(time.perf_counter() - started)
        self._changes += len(items)
        return results

    def _device_kind(self, ship_id: str, device_id: str) -> str | None:
        device = self.registry.get(ship_id, device_id)
        return device.kind if device else None

    async def _load_registry(self) -> None:
        assert self.runtime is not None
        try:
            rows = await self.runtime.store.query(LOAD_DEVICES_SQL)
        except Exception as exc:  # noqa: BLE001 - detection runs without kinds; retried on the timer
            log.warning("device_registry_unavailable", error=repr(exc))
            return
        self.registry = DeviceRegistry.of([device_from_row(r) for r in rows])
        self.registry_loaded = True

    # --- state ------------------------------------------------------------------------------
    async def _restored_analyzers(self) -> tuple[LogAnalyzer, MetricAnalyzer]:
        """Analyzers with the last snapshot's state; a missing or unreadable one means a fresh start."""
        assert self.runtime is not None
        policy = self.runtime.policy.detect
        directory = state.state_dir(self.runtime.settings.data_dir)
        logs = LogAnalyzer(policy)
        metric_analyzer = MetricAnalyzer(policy, device_kind=self._device_kind)
        try:
            templates = await asyncio.to_thread(state.read_snapshot, directory, state.TEMPLATES_FILE)
            baselines = await asyncio.to_thread(state.read_snapshot, directory, state.BASELINES_FILE)
            if templates is not None:
                logs.miner.restore(templates)
            if baselines is not None:
                logs.restore(baselines["logs"])
                metric_analyzer.restore(baselines["metrics"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("detector_state_discarded", directory=str(directory), error=repr(exc))
            return LogAnalyzer(policy), MetricAnalyzer(policy, device_kind=self._device_kind)
        log.info(
            "detector_state_loaded", templates=logs.miner.template_count, lines=logs.miner.lines,
            restored=templates is not None or baselines is not None,
        )
        return logs, metric_analyzer

    async def save_snapshot(self) -> None:
        """Serialises the state off the event loop, with the consumers paused, then writes it."""
        assert self.runtime is not None
        async with self._state_lock:
            self._changes = 0
            templates, baselines = await asyncio.to_thread(self._serialized_state)
        directory = state.state_dir(self.runtime.settings.data_dir)
        await asyncio.to_thread(state.write_snapshot, directory, state.TEMPLATES_FILE, templates)
        await asyncio.to_thread(state.write_snapshot, directory, state.BASELINES_FILE, baselines)

    def _serialized_state(self) -> tuple[bytes, bytes]:
        assert self.logs is not None and self.metrics is not None
        templates = orjson.dumps(self.logs.miner.snapshot())
        baselines = orjson.dumps({"logs": self.logs.snapshot(), "metrics": self.metrics.snapshot()})
        return templates, baselines

    async def _snapshot_periodically(self, interval_seconds: float) -> None:
        assert self.runtime is not None
        while not self.runtime.stop.is_set():
            try:
                await asyncio.wait_for(self.runtime.stop.wait(), timeout=interval_seconds)
            except asyncio.TimeoutError:
                pass
            if self.runtime.stop.is_set():
                return
            if not self.registry_loaded:
                await self._load_registry()
            if self._changes:
                try:
                    await self.save_snapshot()
                except Exception as exc:  # noqa: BLE001 - the next round tries again
                    log.warning("detector_state_save_failed", error=repr(exc))
