"""The loghub parsing benchmark: the template miner, in its one generic node configuration, must
beat the published Drain grouping accuracy (tuned per system) on average and on most systems."""

from __future__ import annotations

import statistics
import subprocess
import sys

import orjson
import pytest

from services.tools.eval_parsing import DEFAULT_LOGHUB, PUBLISHED_DRAIN, evaluate, structured_files
from tests.support import ROOT

pytestmark = pytest.mark.skipif(
    not DEFAULT_LOGHUB.is_dir() or not structured_files(DEFAULT_LOGHUB),
    reason=f"loghub data not present at {DEFAULT_LOGHUB}",
)


def test_average_grouping_accuracy_beats_published_drain() -> None:
    """Averaged over the systems present, GA is above published Drain's, and above it on most of them."""
    results = [r for r in evaluate(DEFAULT_LOGHUB) if r.system in PUBLISHED_DRAIN]
    assert results
    ours = statistics.fmean(r.ga for r in results)
    drain = statistics.fmean(PUBLISHED_DRAIN[r.system] for r in results)
    assert ours > drain, f"average GA {ours:.4f} does not beat published Drain {drain:.4f}"
    better = [r.system for r in results if r.ga > PUBLISHED_DRAIN[r.system]]
    assert len(better) > len(results) / 2, f"better than Drain only on {better}"


def test_cli_prints_the_systems_and_their_average_as_json() -> None:
    """`aiops eval parsing --loghub DIR --json` prints {"systems": {name: ga}, "average": x}."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "eval", "parsing", "--loghub", str(DEFAULT_LOGHUB), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    )
    body = orjson.loads(done.stdout)
    assert set(body) == {"systems", "average"}
    assert set(body["systems"]) == set(structured_files(DEFAULT_LOGHUB))
    assert body["average"] == pytest.approx(statistics.fmean(body["systems"].values()), abs=1e-4)
