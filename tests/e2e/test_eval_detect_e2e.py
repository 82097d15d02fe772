"""`aiops eval detect` through a real node: a short brute-force scenario is replayed, compressed,
into a fresh `aiops up`, and the incident read back from the API is matched to the labelled fault."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.tools.eval_detect import evaluate

pytestmark = pytest.mark.e2e


def test_a_brute_force_is_one_auth_incident_rooted_at_the_attacked_server() -> None:
    """The SSH brute force is detected as one auth_failure incident on crew-portal-01, within the fault."""
    report = evaluate(
        ["ssh_brute_force"], speed=30, duration_s=600, seed=7, start=datetime(2026, 3, 2, 9, tzinfo=UTC),
    )
    [result] = report.faults
    assert result.detected, report
    assert result.incidents == 1
    assert result.incident_type == "auth_failure" and result.type_exact
    assert result.root_device == "crew-portal-01" and result.root_correct
    assert result.time_to_detect_s is not None and result.time_to_detect_s < 300  # inside the 5-minute fault
    assert report.scaled_policy["correlate"]["windows"]["auth_failure"] == 20  # 600 s / 30
