"""The bench's CPU meter: what each process of the node used over a phase, read from /proc, and
how busy the machine's cores were."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from services.bench.processes import CpuMeter, cpu_seconds, machine_cpu, process_label

# A child that spends CPU until it is stopped, named as the node names its workers.
SPIN = "while True:\n    pass"


def spin_until(seconds: float) -> None:
    """Uses CPU, not wall time: waits until this process has spent `seconds` more of it."""
    target = time.process_time() + seconds
    while time.process_time() < target:
        pass


def test_cpu_seconds_grow_with_the_work_a_process_does():
    before = cpu_seconds(os.getpid())
    spin_until(0.2)
    assert cpu_seconds(os.getpid()) - before >= 0.15


def test_a_process_that_is_gone_used_no_cpu_and_has_a_label_saying_so():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert cpu_seconds(child.pid) == 0.0
    assert process_label(child.pid, os.getpid()) == "gone"


def test_machine_busy_ticks_never_exceed_the_total():
    busy, total = machine_cpu()
    assert 0 < busy <= total


def test_the_meter_names_the_node_its_workers_and_the_machine():
    """A child started as `... services.cli serve <role>` is that role's worker, its CPU counted apart from the
    node's; the machine's busy share is a percentage of all its cores."""
    worker = subprocess.Popen([sys.executable, "-c", SPIN, "services.cli", "serve", "anomaly-detection"])
    try:
        meter = CpuMeter(os.getpid())
        spin_until(0.2)
        deadline = time.monotonic() + 30
        while cpu_seconds(worker.pid) < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        used = meter.read()
    finally:
        worker.kill()
        worker.wait()
    assert process_label(os.getpid(), os.getpid()) == "node"
    assert used["node"] > 0
    assert used["anomaly-detection worker"] > 0
    assert 0 < used["machine_busy"] <= 100
