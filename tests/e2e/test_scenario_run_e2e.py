"""`aiops scenario run` against a real `aiops up`: the simulated ship's syslog datagrams (UDP, as
devices send them) and telemetry reach the node, and its labelled fault becomes an incident."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT, wait_until

pytestmark = pytest.mark.e2e


def test_a_scenario_run_over_udp_raises_its_fault_as_an_incident(node) -> None:
    """A compressed brute-force scenario sent by the CLI ends as an auth_failure incident on crew-portal-01."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "scenario", "run", "ssh_brute_force", "--speed", "60", "--duration", "300",
         "--url", node.url, "--syslog", f"127.0.0.1:{node.syslog_port}", "--token", node.token()],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "sent" in done.stderr and "syslog lines" in done.stderr
    with node.client() as client:
        def auth_incident():
            items = client.get("/api/v3/incidents", params={"incident_type": "auth_failure", "limit": 50}).json()["items"]
            return [i for i in items if i["root_cause_device"] == "crew-portal-01"]

        assert wait_until(auth_incident, timeout=60)
