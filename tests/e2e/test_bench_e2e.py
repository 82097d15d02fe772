"""`aiops bench`: a smoke run drives a real node through every phase and prints every figure."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from services.bench.report import KEYS, TARGETS
from tests.support import ROOT

pytestmark = pytest.mark.e2e

# Figures a run always measures when its phases work; the others may be null with a note (no
# rate held its probe, no insight stored in the window), which says nothing about the bench.
ALWAYS_MEASURED = [key for key in KEYS if key not in ("sustained_lines_per_s", "insight_fallback_p99_ms")]


def test_smoke_run_prints_every_figure_with_its_target(tmp_path):
    """`aiops bench --smoke --json` exits 0 and prints every key; the phases that always yield a
    figure (floor, fast path, stages, API, memory) yield numbers, and the seeded store is there."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "bench", "--smoke", "--json", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    body = json.loads(done.stdout)
    assert set(KEYS) <= set(body)
    for key in ALWAYS_MEASURED:
        assert isinstance(body[key], (int, float)) and body[key] >= 0, (key, body[key], body["notes"])
    for key in KEYS:
        assert body[key] is None or isinstance(body[key], (int, float)), key
    assert set(body["met"]) == set(TARGETS)
    assert body["details"]["mode"] == "smoke"
    assert body["details"]["fast_path_samples"] > 0
    assert body["details"]["incidents_stored"] >= 2000
    # Where the CPU went: the node and its two per-line workers, and the machine as a whole.
    fast_cpu = body["details"]["cpu_percent_fast_path"]
    assert {"node", "ingest worker", "anomaly-detection worker", "machine_busy"} <= set(fast_cpu), fast_cpu
    assert fast_cpu["node"] > 0 and 0 < fast_cpu["machine_busy"] <= 100
    assert "machine_busy" in body["details"]["cpu_percent_last_hold"]
    assert all("% busy" in probe for probe in body["details"]["sustained_probes"])
    assert body["fast_path_ratio_to_floor"] == pytest.approx(body["fast_path_p99_ms"] / body["floor_p99_ms"], rel=0.01)


# Reads a seeded store in a child process: chDB serves one data dir per process, and the test
# process may hold another (the `store` fixture's).
READ_SEEDED = """
import asyncio, json, sys
from aiops_core.models import Incident, Insight
from aiops_core.settings import Settings
from aiops_core.store import Store

async def main():
    store = Store(Settings(data_dir=sys.argv[1]).store_dsn(), timeout_seconds=120)
    await store.start()
    try:
        docs = await store.query("SELECT doc FROM aiops.incidents FINAL LIMIT 500")
        insights = await store.query("SELECT insight FROM aiops.incident_insights LIMIT 500")
        for row in docs:
            Incident.model_validate_json(row["doc"])
        for row in insights:
            Insight.model_validate_json(row["insight"])
        print(json.dumps({
            "incidents": await store.scalar("SELECT count() FROM aiops.incidents FINAL"),
            "anomalies": await store.scalar("SELECT count() FROM aiops.anomalies"),
            "validated": len(docs) + len(insights),
        }))
    finally:
        await store.close()

asyncio.run(main())
"""


def test_seed_fills_an_empty_data_dir_and_refuses_a_filled_one(tmp_path):
    """`aiops bench seed` writes the asked number of incidents (each a valid Incident with its
    anomaly and a valid insight) and will not seed the same store twice."""
    data_dir = tmp_path / "seeded"
    command = [sys.executable, "-m", "services.cli", "bench", "seed", "--incidents", "3000", "--data-dir", str(data_dir)]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    read = subprocess.run([sys.executable, "-c", READ_SEEDED, str(data_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert read.returncode == 0, read.stderr[-3000:]
    seeded = json.loads(read.stdout.strip().splitlines()[-1])
    assert seeded == {"incidents": 3000, "anomalies": 3000, "validated": 1000}
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode != 0
    assert "already holds incidents" in again.stderr
