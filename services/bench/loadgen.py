"""The load generator: a process of its own that sends the pool's lines to the node's syslog TCP
port at a fixed rate, so sending never competes with the node for its event loop (it does share
the machine's two cores; it needs a few percent of one at the rates measured).

`python -m services.bench.loadgen '<json spec>'` prints one JSON line: what it sent and how far
behind its schedule it fell (TCP backpressure from a node that cannot keep up shows there).
Standard library only, for a quick start.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from services.bench.pool import LinePool

# Lines are written in ticks of this length: 1 line per tick at 1,000 lines/s, 20 at 20,000.
TICK_SECONDS = 0.001


@dataclass
class LoadSpec:
    host: str
    port: int
    pool_file: str
    rate: float
    seconds: float
    anomaly_ratio: float = 0.05
    start_index: int = 0


@dataclass
class LoadResult:
    sent: int
    anomalous: int
    seconds: float
    achieved_rate: float
    # How far the sender fell behind its schedule at worst: > 0 means the node pushed back.
    max_behind_ms: float


def send(spec: LoadSpec) -> LoadResult:
    pool = LinePool.read(Path(spec.pool_file))
    anomalous = set(pool.anomalous)
    stream = pool.lines(spec.anomaly_ratio, start=spec.start_index)
    total = int(spec.rate * spec.seconds)
    sent = flagged = 0
    max_behind = 0.0
    with socket.create_connection((spec.host, spec.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        while sent < total:
            now = time.perf_counter() - started
            due = min(total, int(now * spec.rate) + 1)
            if due > sent:
                chunk = []
                for _ in range(due - sent):
                    line = next(stream)
                    flagged += line in anomalous
                    chunk.append(line)
                sock.sendall(b"\n".join(chunk) + b"\n")
                sent = due
                max_behind = max(max_behind, (time.perf_counter() - started) - sent / spec.rate)
            next_due = sent / spec.rate
            pause = next_due - (time.perf_counter() - started)
            if pause > 0:
                time.sleep(min(pause, TICK_SECONDS))
        elapsed = time.perf_counter() - started
    return LoadResult(sent, flagged, elapsed, sent / elapsed if elapsed else 0.0, max(0.0, max_behind) * 1000)


def main(argv: list[str]) -> int:
    spec = LoadSpec(**json.loads(argv[1]))
    sys.stdout.write(json.dumps(asdict(send(spec))) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
