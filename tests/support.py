"""Helpers for tests that drive a real `aiops up` node or poll for an outcome."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aiops_core.nats_server import free_port

ROOT = Path(__file__).resolve().parent.parent


class Node:
    """A running `aiops up` in its own process, with its ports and data dir."""

    def __init__(self, data_dir: Path, api_port: int, syslog_port: int, nats_port: int, process: subprocess.Popen, log_path: Path):
        self.data_dir = data_dir
        self.api_port = api_port
        self.syslog_port = syslog_port
        self.nats_port = nats_port
        self.process = process
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{api_port}"

    def token(self) -> str | None:
        path = self.data_dir / "admin.token"
        return path.read_text().strip() if path.exists() else None

    def client(self, **kwargs) -> httpx.Client:
        token = self.token()
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kwargs)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-20000:]


def start_node(data_dir: Path, extra_env: dict[str, str] | None = None, args: list[str] | None = None, timeout: float = 90.0) -> Node:
    api_port, syslog_port, nats_port = free_port(), free_port(), free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "node.log"
    # The node starts its own NATS unless a test asks otherwise.
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env.update(extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data_dir), "--api-port", str(api_port),
         "--syslog-port", str(syslog_port), "--nats-port", str(nats_port), *(args or [])],
        cwd=ROOT, env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
    )
    node = Node(data_dir, api_port, syslog_port, nats_port, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"aiops up exited with {process.returncode}:\n{node.logs()}")
        try:
            if httpx.get(f"{node.url}/health", timeout=1.0).status_code == 200:
                return node
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_node(node)
    raise TimeoutError(f"aiops up not healthy within {timeout}s:\n{node.logs()}")


def stop_node(node: Node, timeout: float = 90.0) -> int:
    if node.process.poll() is None:
        node.process.send_signal(signal.SIGTERM)
        try:
            node.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
    return node.process.returncode


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.2):
    """Polls until predicate() returns a truthy value; returns it, or fails with the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


async def async_wait_until(predicate, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
