"""A throwaway `aiops up` node in a child process, on free loopback ports and its own data dir:
what the evaluation commands measure against (the real node, every role, its own NATS and chDB).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from aiops_core.nats_server import free_port
from aiops_core.processes import terminate
from aiops_core.settings import PROJECT_ROOT


@dataclass
class LocalNode:
    data_dir: Path
    api_port: int
    syslog_port: int
    nats_port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def syslog(self) -> str:
        return f"127.0.0.1:{self.syslog_port}"

    def token(self) -> str | None:
        path = self.data_dir / "admin.token"
        return path.read_text(encoding="utf-8").strip() if path.exists() else None

    def logs(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]


def start_local_node(
    data_dir: Path, env: dict[str, str] | None = None, timeout: float = 120.0, args: list[str] | None = None
) -> LocalNode:
    """Starts the node and waits for /health; raises RuntimeError with its log when it fails."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "node.log"
    api_port, syslog_port, nats_port = free_port(), free_port(), free_port()
    # The node starts its own NATS: an inherited NATS_URL would point it at someone else's.
    child_env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    child_env.update(env or {})
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", str(data_dir), "--api-port", str(api_port),
             "--syslog-port", str(syslog_port), "--nats-port", str(nats_port), *(args or [])],
            cwd=PROJECT_ROOT, env=child_env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    node = LocalNode(data_dir, api_port, syslog_port, nats_port, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"aiops up exited with {process.returncode}:\n{node.logs()}")
        try:
            if httpx.get(f"{node.url}/health", timeout=1.0).status_code == 200 and node.token():
                return node
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_local_node(node)
    raise RuntimeError(f"aiops up not healthy within {timeout:.0f} s:\n{node.logs()}")


def stop_local_node(node: LocalNode, timeout: float = 30.0) -> int:
    return terminate(node.process, timeout)
