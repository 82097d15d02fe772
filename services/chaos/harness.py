"""The chaos harness: real processes, real kills, then counting what the stores hold.

Two deployments, each fed the same thousand-event stream over `POST /api/v3/logs`:

- **embedded**: one `aiops up` (every role and its own nats-server); mid-stream the node and its
  nats-server are killed with SIGKILL and restarted on the same data dir.
- **split**: a nats-server of its own and every role as `aiops serve <role>`; mid-stream each
  role in turn is killed with SIGKILL and restarted, and the nats-server is killed and restarted
  on its store. chDB locks a data dir to one process and Debian's ClickHouse server (18.16)
  predates the schema's DateTime64, so each role process has its own chDB: the archive is read
  from ingest's, anomalies and incidents from incident-api's (enrichment's history look-ups see
  an empty store there, which changes context, not delivery).

The sender is an at-least-once client: a batch that got no 202 is sent again. Once every durable
consumer has nothing pending or unacked, the processes are stopped and the stores counted
(`services.chaos.verify`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import orjson
from nats.js.errors import NotFoundError

from aiops_core.bus import CONSUMERS, FLEET_STREAM
from aiops_core.logging import StructuredLogger
from aiops_core.nats_server import NatsServer, free_port
from services.workers import child_pids
from aiops_core.settings import PROJECT_ROOT
from services.chaos.stream import ChaosEvent, build_stream
from services.chaos.verify import Tally, tally

log = StructuredLogger.get_logger(__name__, service="chaos")

# Every role that runs as its own process in compose, in pipeline order.
SPLIT_ROLES = ("ingest", "anomaly-detection", "enrichment", "correlation", "llm-enricher", "incident-api")
API_ROLES = {"ingest", "incident-api"}


class Process:
    """One `aiops` process with a fixed command line, so a restart is the same process again."""

    def __init__(self, name: str, args: list[str], data_dir: Path, http_port: int, env: dict[str, str]) -> None:
        self.name = name
        self.args = args
        self.data_dir = data_dir
        self.http_port = http_port
        self.env = env
        self.popen: subprocess.Popen | None = None
        self.log_path = data_dir / f"{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *self.args], cwd=PROJECT_ROOT, env=self.env,
            stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115 - the child owns it
            start_new_session=True,
        )

    async def healthy(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.popen is None or self.popen.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.tail()}")
                try:
                    if (await client.get(f"{self.url}/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
        raise TimeoutError(f"{self.name} not healthy within {timeout}s: {self.tail()}")

    def kill9(self) -> None:
        """SIGKILL to the process and to what it started (its workers, its nats-server): a power cut."""
        assert self.popen
        children = child_pids(self.popen.pid)
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def stop(self, timeout: float = 60.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.popen.wait, timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""


@dataclass
class Fault:
    """An action injected once the stream has been accepted up to `at_index`."""

    at_index: int
    name: str
    inject: Callable[[], Awaitable[None]]


@dataclass
class RunResult:
    deployment: str
    tally: Tally
    faults: list[str]
    accepted: int
    physical_rows: dict = field(default_factory=dict)
    dead_lettered: int = 0
    seconds: float = 0.0


class Sender:
    """Posts the stream in batches as an at-least-once client, recording each event's tracking_id.
    Each batch carries an Idempotency-Key, so a resend after a lost answer is stored once."""

    def __init__(self, events: list[ChaosEvent], batch: int = 10, rate: float = 100.0) -> None:
        self.events = events
        self.run_id = uuid.uuid4().hex[:12]
        self.batch = batch
        self.pause = batch / rate
        self.accepted: dict[int, str] = {}
        self.retries = 0

    async def run(self, url: Callable[[], str], token: Callable[[], str], faults: list[Fault]) -> None:
        pending = sorted(faults, key=lambda f: f.at_index)
        async with httpx.AsyncClient(timeout=15.0) as client:
            for start in range(0, len(self.events), self.batch):
                chunk = self.events[start:start + self.batch]
                await self._post(client, url, token, chunk, f"chaos-{self.run_id}-{start}")
                while pending and pending[0].at_index < start + len(chunk):
                    fault = pending.pop(0)
                    log.info("fault_injected", fault=fault.name, at_index=fault.at_index)
                    await fault.inject()
                await asyncio.sleep(self.pause)

    async def _post(self, client: httpx.AsyncClient, url, token, chunk: list[ChaosEvent], key: str) -> None:
        body = orjson.dumps([e.item for e in chunk])
        deadline = time.monotonic() + 300
        while True:
            try:
                response = await client.post(
                    f"{url()}/api/v3/logs", content=body,
                    headers={"authorization": f"Bearer {token()}", "content-type": "application/json",
                             "idempotency-key": key},
                )
                if response.status_code == 202:
                    for event, tid in zip(chunk, response.json()["tracking_ids"], strict=True):
                        self.accepted[event.index] = tid
                    return
                if response.status_code < 500:
                    raise RuntimeError(f"ingest refused a valid batch: {response.status_code} {response.text[:300]}")
            except (httpx.HTTPError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("ingest did not accept a batch within 300 s")
            self.retries += 1
            await asyncio.sleep(0.5)


async def settle(nats_url: str, quiet_checks: int = 3, timeout: float = 300.0) -> int:
    """Waits until no durable consumer has pending or unacked messages; returns the DLQ size."""
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    try:
        js = nc.jetstream(timeout=10.0)
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < quiet_checks:
            if time.monotonic() > deadline:
                raise TimeoutError("the pipeline did not drain")
            busy = 0
            for spec in CONSUMERS.values():
                if spec.stream == FLEET_STREAM:
                    continue
                try:
                    info = await js.consumer_info(spec.stream, spec.durable)
                except NotFoundError:
                    continue
                busy += (info.num_pending or 0) + (info.num_ack_pending or 0)
            quiet = quiet + 1 if busy == 0 else 0
            await asyncio.sleep(1.0)
        return (await js.stream_info("DLQ")).state.messages
    finally:
        await nc.close()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "CLICKHOUSE_DSN"}}
    env.update(extra)
    return env


async def _counts(dsn: str) -> dict:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.chaos.counts", dsn, cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"counting {dsn} failed: {err.decode(errors='replace')[-2000:]}")
    return orjson.loads(out)


def _dsn(data_dir: Path) -> str:
    return f"chdb:///{(data_dir / 'clickhouse').resolve()}"


async def run_embedded(work_dir: Path, events: list[ChaosEvent]) -> RunResult:
    started = time.monotonic()
    data_dir = work_dir / "embedded"
    api, syslog, nats_port = free_port(), free_port(), free_port()
    node = Process(
        "node", ["up", "--data-dir", str(data_dir), "--api-port", str(api), "--syslog-port", str(syslog),
                 "--nats-port", str(nats_port)], data_dir, api, _env(),
    )

    async def crash_and_restart() -> None:
        node.kill9()
        await asyncio.sleep(1.0)
        node.start()
        await node.healthy()

    faults = [Fault(len(events) // 2, "kill -9 of the embedded node (and its nats-server), restart", crash_and_restart)]
    node.start()
    try:
        await node.healthy()
        sender = Sender(events)
        token = (data_dir / "admin.token").read_text().strip()
        await sender.run(lambda: node.url, lambda: token, faults)
        dead = await settle(f"nats://127.0.0.1:{nats_port}")
    finally:
        await node.stop()
    counts = await _counts(_dsn(data_dir))
    result = tally(events, sender.accepted, _archived(counts), counts["anomalies"], counts["incidents"])
    return RunResult("embedded", _with_dlq(result, dead), [f.name for f in faults], len(sender.accepted),
                     counts["physical_rows"][0], dead, time.monotonic() - started)


async def run_split(work_dir: Path, events: list[ChaosEvent], roles: tuple[str, ...] = SPLIT_ROLES) -> RunResult:
    started = time.monotonic()
    base = work_dir / "split"
    nats_server = NatsServer(store_dir=(base / "nats").resolve(), port=free_port(), server_name="chaos-split")
    env = _env(NATS_URL=nats_server.url)
    processes: dict[str, Process] = {}
    for role in roles:
        port = free_port()
        args = ["serve", role, "--data-dir", str(base / role), "--port", str(port)]
        if role == "ingest":
            args += ["--syslog-port", str(free_port())]
        processes[role] = Process(role, args, base / role, port, env)

    def role_crash(role: str) -> Callable[[], Awaitable[None]]:
        async def crash_and_restart() -> None:
            processes[role].kill9()
            await asyncio.sleep(1.0)
            processes[role].start()
            await processes[role].healthy()

        return crash_and_restart

    async def nats_crash_and_restart() -> None:
        nats_server.kill()
        await asyncio.sleep(2.0)
        await asyncio.to_thread(nats_server.start)
        for process in processes.values():
            await process.healthy()

    step = len(events) // (len(roles) + 2)
    faults = [Fault(step * (i + 1), f"kill -9 of `aiops serve {role}`, restart", role_crash(role))
              for i, role in enumerate(roles)]
    faults.append(Fault(step * (len(roles) + 1), "kill -9 of the nats-server, restart on its store", nats_crash_and_restart))
    await asyncio.to_thread(nats_server.start)
    try:
        for process in processes.values():
            process.start()
        await asyncio.gather(*(p.healthy() for p in processes.values()))
        ingest = processes["ingest"]
        token = (ingest.data_dir / "admin.token").read_text().strip()
        sender = Sender(events)
        await sender.run(lambda: ingest.url, lambda: token, faults)
        dead = await settle(nats_server.url)
    finally:
        await asyncio.gather(*(p.stop() for p in processes.values()))
        await asyncio.to_thread(nats_server.stop)
    archive = await _counts(_dsn(base / "ingest"))
    stored = await _counts(_dsn(base / "incident-api"))
    result = tally(events, sender.accepted, _archived(archive), stored["anomalies"], stored["incidents"])
    physical = {"logs_raw": archive["physical_rows"][0]["logs_raw"], "anomalies": stored["physical_rows"][0]["anomalies"]}
    return RunResult("split", _with_dlq(result, dead), [f.name for f in faults], len(sender.accepted),
                     physical, dead, time.monotonic() - started)


def _archived(counts: dict) -> dict[str, int]:
    return {row["tracking_id"]: int(row["n"]) for row in counts["archived"]}


def _with_dlq(result: Tally, dead_lettered: int) -> Tally:
    # A valid event that ended in a DLQ never reached its destination.
    if dead_lettered:
        result.lost["dead_lettered"] += dead_lettered
        result.notes.append(f"{dead_lettered} message(s) in the DLQ stream")
    return result


async def run_chaos(work_dir: Path, *, size: int = 1000, deployments: tuple[str, ...] = ("embedded", "split")) -> list[RunResult]:
    events = build_stream(size)
    results = []
    for deployment in deployments:
        runner = run_embedded if deployment == "embedded" else run_split
        log.info("chaos_deployment_started", deployment=deployment, events=len(events))
        result = await runner(work_dir, events)
        log.info("chaos_deployment_done", deployment=deployment, summary=result.tally.summary(),
                 lost=dict(result.tally.lost), duplicated=dict(result.tally.duplicated), notes=result.tally.notes,
                 seconds=round(result.seconds, 1))
        results.append(result)
    return results
