"""`make chaos` in CI: the fault run must end with lost=0 duplicated=0."""

import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.slow]


def test_chaos_run_loses_and_duplicates_nothing(tmp_path):
    """kill -9 of the embedded node, of every role process and of the nats-server mid-stream leave
    every log archived once, every anomaly counted once and one incident per injected fault."""
    run = subprocess.run(
        [sys.executable, "-m", "services.cli", "chaos", "--work-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    lines = run.stdout.strip().splitlines()
    assert lines, run.stderr[-5000:]
    assert lines[-1] == "lost=0 duplicated=0", run.stdout + run.stderr[-5000:]
    assert run.returncode == 0
    assert any(line.startswith("embedded: 1000 events accepted") for line in lines)
    assert any(line.startswith("split: 1000 events accepted") for line in lines)
