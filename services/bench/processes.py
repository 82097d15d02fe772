"""The processes a bench run drives: the node (`aiops up`, or one role with `aiops serve`) on
the bench's own NATS server, and helpers to read its Prometheus metrics, its memory and the CPU
it and the whole machine used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from aiops_core.nats_server import free_port
from aiops_core.processes import terminate
from aiops_core.settings import PROJECT_ROOT
from services.workers import child_pids, worker_role


@dataclass
class NodeProcess:
    """A node as on a ship: `aiops up` (every role; the per-line ones in its worker processes)."""

    data_dir: Path
    nats_url: str
    command: list[str] = field(default_factory=lambda: ["up"])
    api_port: int = field(default_factory=free_port)
    syslog_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    peak_rss_mb: float = 0.0
    peak_rss_upper_mb: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "node.log"

    def start(self, timeout: float = 120.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NATS_URL": self.nats_url}
        if self.command[0] == "up":
            ports = ["--api-port", str(self.api_port), "--syslog-port", str(self.syslog_port)]
        else:
            ports = ["--port", str(self.api_port), "--syslog-port", str(self.syslog_port)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *self.command, "--data-dir", str(self.data_dir), *ports],
            cwd=PROJECT_ROOT, env=env, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the node exited with {self.process.returncode}:\n{self.tail_log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"the node was not healthy within {timeout:.0f} s:\n{self.tail_log()}")

    def stop(self, timeout: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.sample_rss()
        terminate(self.process, timeout)

    def token(self) -> str:
        return (self.data_dir / "admin.token").read_text(encoding="utf-8").strip()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {self.token()}"}, timeout=60.0)

    def tail_log(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_for_log(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.tail_log(10**7):
                return True
            time.sleep(0.25)
        return False

    def sample_rss(self) -> float:
        """The node's resident memory now, in MB, its worker processes included. Two peaks are
        kept: the highest of these samples (the node's footprint, as often as it is sampled) and
        the sum of each process's own peak (VmHWM), which may not have coincided: an upper bound."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        pids = [self.process.pid, *child_pids(self.process.pid)]
        rss_mb = sum(rss_of(pid) for pid in pids)
        self.peak_rss_mb = max(self.peak_rss_mb, rss_mb)
        self.peak_rss_upper_mb = max(self.peak_rss_upper_mb, sum(peak_rss_of(pid) for pid in pids))
        return rss_mb

    def cpu_meter(self) -> CpuMeter:
        """Starts measuring the CPU the node's processes and the whole machine use from now."""
        assert self.process is not None
        return CpuMeter(self.process.pid)

    def metrics(self) -> Metrics:
        response = httpx.get(f"{self.url}/metrics", timeout=10.0)
        response.raise_for_status()
        return Metrics.parse(response.text)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used between its start and `read()`: per process of the node (percent of one core,
    by what the process is: `node`, `<role> worker`, `nats-server`) and for the whole machine
    (percent of all its cores busy, whoever used them: the node, the load, other work). A rate
    the node cannot hold with the machine's cores full is a CPU limit, not a stall."""

    def __init__(self, node_pid: int) -> None:
        self.node_pid = node_pid
        self._processes, self._machine, self._at = self._snapshot()

    def _snapshot(self) -> tuple[dict[str, float], tuple[int, int], float]:
        used: dict[str, float] = defaultdict(float)
        for pid in (self.node_pid, *child_pids(self.node_pid)):
            used[process_label(pid, self.node_pid)] += cpu_seconds(pid)
        return dict(used), machine_cpu(), time.monotonic()

    def read(self) -> dict[str, float]:
        processes, machine, at = self._snapshot()
        seconds = max(at - self._at, 1e-9)
        shares = {
            label: round(100 * max(0.0, used - self._processes.get(label, 0.0)) / seconds, 1)
            for label, used in sorted(processes.items())
        }
        busy, total = machine[0] - self._machine[0], machine[1] - self._machine[1]
        shares["machine_busy"] = round(100 * busy / total, 1) if total > 0 else 0.0
        return shares


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, in seconds; 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The fields after the command name, which is in parentheses and may hold spaces or ")":
    # utime and stime are the 14th and 15th of the line, the 12th and 13th of these.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu() -> tuple[int, int]:
    """(busy, total) clock ticks of all the machine's cores since boot (idle and iowait are not
    busy; guest time is already counted in user)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(values)
    return total - values[3] - values[4], total


def process_label(pid: int, node_pid: int) -> str:
    """What a process of the node is: the node itself, one role's worker, or another program."""
    if pid == node_pid:
        return "node"
    role = worker_role(pid)
    if role is not None:
        return f"{role} worker"
    try:
        program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return "gone"
    return Path(program.decode(errors="replace")).name or "unknown"


def rss_of(pid: int) -> float:
    return _status_kb(pid, "VmRSS:") / 1024


def peak_rss_of(pid: int) -> float:
    return _status_kb(pid, "VmHWM:") / 1024


def _status_kb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


@dataclass
class Metrics:
    """Prometheus samples by name, each a list of (labels, value)."""

    samples: dict[str, list[tuple[dict[str, str], float]]]

    @classmethod
    def parse(cls, text: str) -> Metrics:
        samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            name, _, labels = head.partition("{")
            parsed = {}
            if labels:
                for part in _split_labels(labels.rstrip("}")):
                    key, _, raw = part.partition("=")
                    parsed[key] = json.loads(raw)
            samples[name].append((parsed, float(value)))
        return cls(dict(samples))

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels`."""
        return sum(v for l, v in self.samples.get(name, []) if all(l.get(k) == x for k, x in labels.items()))


def _split_labels(text: str) -> list[str]:
    """Splits `a="x",b="y,z"` on the commas outside quotes."""
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        parts.append("".join(current))
    return parts
