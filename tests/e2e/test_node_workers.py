"""The embedded node's worker processes (services/workers.py): the syslog listener and
anomaly-detection run apart, read the store through the node's relay, are reported in /health
and /metrics, come back when killed without losing a line, and end with the node."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from services.workers import child_pids, worker_role
from tests.support import metric_value, start_node, stop_node, wait_until


def _send(node, lines: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", node.syslog_port), timeout=10) as connection:
        connection.sendall(b"".join(line + b"\n" for line in lines))


def _metric(client, name: str, **labels: str) -> float:
    return metric_value(client, name, **labels)


def _worker_pids(node) -> dict[str, int]:
    """Worker name -> pid, read from the node's own log of starting them."""
    import json

    pids: dict[str, int] = {}
    for line in node.logs().splitlines():
        if '"worker_started"' in line:
            event = json.loads(line)
            pids[event["worker"]] = event["pid"]
    return pids


def _lines(tag: str, count: int) -> list[bytes]:
    return [f"<190>Nov 25 03:00:00 sw-deck4-01 app[1]: worker check {tag} line {i}".encode() for i in range(count)]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    running = start_node(tmp_path_factory.mktemp("workers"))
    yield running
    stop_node(running)


def test_health_lists_the_workers_and_metrics_carry_their_samples(node):
    with node.client() as client:
        body = client.get("/health").json()
        assert body["workers"] == {"syslog": True, "anomaly-detection": True}
        assert "anomaly-detection" not in body["roles"]
        before = _metric(client, "aiops_messages_total", role="anomaly-detection", outcome="ok", worker="anomaly-detection")
        _send(node, _lines("metrics", 50))
        wait_until(lambda: _metric(
            client, "aiops_messages_total", role="anomaly-detection", outcome="ok", worker="anomaly-detection"
        ) >= before + 50, timeout=60)
        # The syslog worker's acceptances are in the node's one scrape too.
        assert _metric(client, "aiops_ingested_lines_total", source="syslog", outcome="accepted", worker="syslog") >= 50


def test_a_killed_detection_worker_is_restarted_and_nothing_is_lost(node):
    with node.client() as client:
        old_pid = _worker_pids(node)["anomaly-detection"]
        os.kill(old_pid, signal.SIGKILL)
        # Lines sent while detection is down wait in JetStream for the restarted worker.
        _send(node, _lines("restart", 200))
        wait_until(lambda: _worker_pids(node)["anomaly-detection"] != old_pid, timeout=60)
        wait_until(lambda: client.get("/health").status_code == 200, timeout=120)
        # A restarted process counts from zero (a counter reset, as Prometheus expects): the new
        # worker alone has handled every line sent while its predecessor was dead.
        wait_until(lambda: _metric(client, "aiops_messages_total", role="anomaly-detection", outcome="ok")
                   >= 200, timeout=120)
        assert '"worker_exited"' in node.logs()


def test_no_worker_outlives_a_killed_node(tmp_path):
    node = start_node(tmp_path / "short-lived")
    children = child_pids(node.process.pid)
    workers = [pid for pid in children if _is_worker(pid)]
    assert len(workers) == 2
    try:
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers)
    finally:
        for pid in children:  # the nats-server the node started (and any worker, on failure)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _is_worker(pid: int) -> bool:
    return worker_role(pid) is not None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return False
