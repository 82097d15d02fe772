"""The embedded node's worker processes: the per-line roles on a core of their own.

Every syslog line is parsed by ingest and analysed by anomaly-detection; everything after that
(enrichment, correlation, the incident-api, the llm-enricher) sees only the anomalies, a few per
cent of the lines. In one process those two roles hold the interpreter lock for most of every
second at a thousand lines a second, and every other role waits for the event loop behind them:
the fast path's latency was the queue in front of the loop, not its work. So `aiops up` runs
them as workers, each `aiops serve ROLE` in a process of its own, on the node's NATS:

- `syslog`: the ingest role listening on the syslog port (UDP and TCP), publishing `logs.raw`.
  The node's own ingest role keeps the HTTP ingestion routes and the archiver of `logs.raw`.
- `anomaly-detection`: the role itself, with its detector state in the node's data dir.

The workers read the store (the device registry, the tokens) through the node's relay
(aiops_core/store_relay.py): chDB lets only the node's process open it. The node starts them
after its own roles, reports them in `/health`, merges their samples into its `/metrics` (with a
`worker` label), restarts one that exits, and stops them before its own roles. A worker also
ends when the node dies (a parent-death signal, and a check of its parent), so a killed node
leaves none behind to hold the syslog port or a consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from aiops_core.logging import StructuredLogger
from aiops_core.nats_server import free_port
from aiops_core.settings import Settings

log = StructuredLogger.get_logger(__name__, service="node")

# The environment variable a worker finds its node's pid in.
PARENT_PID_ENV = "AIOPS_NODE_PID"
# Worker name -> (role it serves, settings it overrides).
WORKER_ROLES: dict[str, tuple[str, dict[str, Any]]] = {
    "syslog": ("ingest", {"archive_enabled": False, "syslog_listener": True}),
    "anomaly-detection": ("anomaly-detection", {"syslog_listener": False}),
}
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 20.0
RESTART_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


def planned_workers(settings: Settings, role_names: list[str]) -> list[str]:
    """The workers `aiops up` starts for these roles: none when disabled, on a shore hub, or for a
    single role (`aiops serve` is already a process of its own)."""
    if not settings.node_workers or settings.is_shore or settings.store_relay or len(role_names) < 2:
        return []
    names = []
    if "ingest" in role_names and settings.syslog_listener:
        names.append("syslog")
    if "anomaly-detection" in role_names:
        names.append("anomaly-detection")
    return names


def roles_left_in_node(role_names: list[str], workers: list[str]) -> list[str]:
    """The node keeps ingest (its HTTP routes and the archiver) even when the syslog worker listens."""
    moved = {WORKER_ROLES[name][0] for name in workers if name != "syslog"}
    return [name for name in role_names if name not in moved]


def worker_environment(settings: Settings, nats_url: str, overrides: dict[str, Any]) -> dict[str, str]:
    """The node's settings as environment variables (the worker builds the same Settings), with
    the node's NATS, the store relay, and the worker's own overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    values = settings.model_dump()
    values.update(overrides)
    values.update(nats_url=nats_url, store_relay=True, node_workers=False, api_host="127.0.0.1")
    for name, value in values.items():
        key = name.upper()
        if value is None:
            env.pop(key, None)
        elif isinstance(value, bool):
            env[key] = "true" if value else "false"
        elif isinstance(value, Path):
            # The same directories whatever the worker's working directory.
            env[key] = str(value.resolve())
        else:
            env[key] = str(value)
    env[PARENT_PID_ENV] = str(os.getpid())
    return env


@dataclass
class Worker:
    name: str
    role: str
    env: dict[str, str]
    port: int
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    healthy: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        # Started from the event loop's thread: the parent-death signal a worker asks for fires
        # when the thread that forked it ends, and this one lives as long as the node.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", self.role, "--port", str(self.port)],
            cwd=os.getcwd(), env=self.env,
        )
        self.started_at = time.monotonic()
        self.healthy = False
        log.info("worker_started", worker=self.name, role=self.role, pid=self.process.pid, port=self.port)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Workers:
    """Starts, watches, restarts and stops the node's workers."""

    workers: list[Worker]
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=3.0))
    stopping: bool = False

    @classmethod
    def plan(cls, settings: Settings, nats_url: str, names: list[str]) -> Workers:
        workers = []
        for name in names:
            role, overrides = WORKER_ROLES[name]
            workers.append(Worker(name, role, worker_environment(settings, nats_url, overrides), free_port()))
        return cls(workers)

    async def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Spawns every worker and waits until each answers /health."""
        for worker in self.workers:
            worker.spawn()
        deadline = time.monotonic() + timeout
        while not all(w.healthy for w in self.workers):
            for worker in self.workers:
                if not worker.running:
                    code = worker.process.returncode if worker.process else None
                    raise RuntimeError(f"worker {worker.name} exited with {code} while starting")
                worker.healthy = await self._healthy(worker)
            if time.monotonic() > deadline:
                late = [w.name for w in self.workers if not w.healthy]
                raise RuntimeError(f"worker(s) {', '.join(late)} not healthy within {timeout:.0f} s")
            await asyncio.sleep(0.2)

    async def _get(self, worker: Worker, path: str) -> httpx.Response | None:
        """A running worker's answer with status 200, else None."""
        if not worker.running:
            return None
        try:
            response = await self.client.get(f"{worker.url}{path}")
        except httpx.HTTPError:
            return None
        return response if response.status_code == 200 else None

    async def _healthy(self, worker: Worker) -> bool:
        return await self._get(worker, "/health") is not None

    async def health(self) -> dict[str, bool]:
        """Each worker's readiness, asked now."""
        results = await asyncio.gather(*(self._healthy(w) for w in self.workers))
        for worker, ok in zip(self.workers, results, strict=True):
            worker.healthy = ok
        return {w.name: ok for w, ok in zip(self.workers, results, strict=True)}

    async def metrics_texts(self) -> list[tuple[str, str]]:
        """Each running worker's /metrics exposition, by worker name (a worker that does not
        answer is left out, and its absence shows in /health)."""

        async def one(worker: Worker) -> tuple[str, str] | None:
            response = await self._get(worker, "/metrics")
            return (worker.name, response.text) if response is not None else None

        return [text for text in await asyncio.gather(*(one(w) for w in self.workers)) if text]

    async def supervise(self, stop: asyncio.Event) -> None:
        """Restarts a worker that exits, with a growing pause between attempts. Nothing is lost
        meanwhile: its consumer's messages wait in JetStream, and syslog senders over TCP
        reconnect (UDP lines sent while the listener is down are lost, as with any restart)."""
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if stop.is_set() or self.stopping:
                return
            for worker in self.workers:
                if worker.running or worker.process is None:
                    continue
                pause = RESTART_BACKOFF_SECONDS[min(worker.restarts, len(RESTART_BACKOFF_SECONDS) - 1)]
                if time.monotonic() - worker.started_at < pause:
                    continue
                log.error("worker_exited", worker=worker.name, code=worker.process.returncode, restarts=worker.restarts)
                worker.restarts += 1
                worker.spawn()

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM to each (they finish the batch in hand and ack it), then SIGKILL to the late."""
        self.stopping = True
        for worker in self.workers:
            if worker.running:
                worker.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            while worker.running and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if worker.running:
                log.warning("worker_killed", worker=worker.name)
                worker.process.kill()  # type: ignore[union-attr]
                await asyncio.to_thread(worker.process.wait)  # type: ignore[union-attr]
        await self.client.aclose()


def worker_role(pid: int) -> str | None:
    """The role a process serves when it is a worker (`python -m services.cli serve ROLE`, as
    `Worker.spawn` starts it); None for another process or one that is gone."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for index in range(len(argv) - 2):
        if argv[index] == b"services.cli" and argv[index + 1] == b"serve":
            return argv[index + 2].decode(errors="replace")
    return None


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (its workers, and the nats-server it started)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:
            pass  # the thread ended meanwhile
    return found


def die_with_parent() -> None:
    """In a worker: end when the node that started it ends, even if the node was killed."""
    parent = os.environ.get(PARENT_PID_ENV)
    if not parent:
        return
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != int(parent):
        # The node died before the signal was asked for.
        os.kill(os.getpid(), signal.SIGTERM)


async def watch_parent(stop: asyncio.Event, every_seconds: float = 1.0) -> None:
    """In a worker: the parent check, for where a parent-death signal does not exist."""
    parent = os.environ.get(PARENT_PID_ENV)
    if not parent:
        return
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_seconds)
        if os.getppid() != int(parent):
            log.warning("node_gone", parent=parent)
            stop.set()

