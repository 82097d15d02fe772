"""The Operations Console in a real browser against a live `aiops up`: sign in with the admin token,
find an incident the pipeline made from posted logs, open and acknowledge it, approve a pending
action, and visit every page, saving a screenshot of each under test-artifacts/console/.

Chromium comes from Debian (scripts/install_browser.sh), playwright-core and the console build from
scripts/build_console.sh; both run from the Makefile (`make test` / `make setup`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT, start_node, stop_node, wait_until

pytestmark = pytest.mark.e2e

PLUGIN_DIR = ROOT / "grafana" / "plugins" / "aiops-ops-console"
SCRIPT = PLUGIN_DIR / "e2e" / "console.e2e.mjs"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "console"
POLICY_SHIP = "example-ship"  # policies/ships/example-ship.yaml: a ship with overrides

CARRIER_LOST = [
    {"device_id": "vsat-modem-01", "service": "idirect", "level": "error",
     "message": "RX carrier lost on Ku-band carrier 1 (Es/No 2.1 dB)"},
    {"device_id": "vsat-modem-01", "service": "idirect", "level": "error",
     "message": "demodulator lock lost on carrier 1"},
]


def _require_tools() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (run scripts/install_browser.sh)")
    if shutil.which("node") is None:
        missing.append("node (install Node.js 20+)")
    if not (PLUGIN_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core (run scripts/build_console.sh)")
    if not (PLUGIN_DIR / "dist-standalone" / "index.html").is_file():
        missing.append("the console build (run scripts/build_console.sh)")
    if missing:
        pytest.fail("the browser test needs: " + "; ".join(missing))


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    _require_tools()
    running = start_node(tmp_path_factory.mktemp("console-node"))
    yield running
    stop_node(running)


def _incident_from_logs(admin) -> str:
    """Posts a VSAT carrier loss and waits for the pipeline's incident, so the console shows a
    real one with a timeline and a trace, not only a hand-made one."""
    response = admin.post("/api/v3/logs", json=CARRIER_LOST)
    assert response.status_code == 202, response.text
    tracking_id = response.json()["tracking_ids"][0]

    def incident_id():
        trace = admin.get(f"/api/v3/trace/{tracking_id}")
        return trace.status_code == 200 and trace.json().get("incident_id")

    return wait_until(incident_id, timeout=60)


def test_console_signs_in_shows_incident_and_approves_action(node):
    """In Chromium the console signs in with the admin token, lists and opens the pipeline's
    incident, acknowledges it, approves an operator's medium-risk action, and shows the actions,
    audit and policy pages; the API then holds the browser's decisions."""
    with node.client() as admin:
        incident_id = _incident_from_logs(admin)
        created = admin.post("/api/v3/tokens", json={"role": "operator", "name": "deck-operator"})
        assert created.status_code == 201, created.text
        operator = {"authorization": f"Bearer {created.json()['token']}"}
        proposed = admin.post("/api/v3/actions", headers=operator, json={
            "incident_id": incident_id, "action": "restart_service", "target_device": "res-app-01",
            "parameters": {"service": "reservations-api"}, "reason": "reservation API workers hung",
        })
        assert proposed.status_code == 201, proposed.text
        action = proposed.json()
        assert action["risk"] == "medium" and action["status"] == "pending_approval"
        diff = admin.get("/api/v3/policies", params={"ship_id": POLICY_SHIP}).json()["diff"]
        assert diff, f"{POLICY_SHIP} should override some defaults"

        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        result = subprocess.run(
            ["node", str(SCRIPT)], cwd=PLUGIN_DIR, capture_output=True, text=True, timeout=300,
            env={
                **os.environ,
                "CONSOLE_URL": f"{node.url}/console/",
                "CONSOLE_TOKEN": node.token(),
                "INCIDENT_ID": incident_id,
                "ACTION_ID": action["action_id"],
                "ARTIFACT_DIR": str(ARTIFACTS),
                "CHROMIUM_PATH": str(CHROMIUM),
                "POLICY_SHIP": POLICY_SHIP,
                "POLICY_DIFF_PATH": diff[0]["path"],
            },
        )
        assert result.returncode == 0, f"browser run failed:\n{result.stderr[-6000:]}\n{result.stdout[-2000:]}"
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["page_errors"] == []
        for name in ("00-sign-in", "01-incidents", "02-incident-detail", "03-approvals", "05-actions",
                     "06-audit", "07-policies", "08-policies-ship-override"):
            shot = ARTIFACTS / f"{name}.png"
            assert shot.is_file() and shot.stat().st_size > 10_000, f"missing or blank screenshot {shot}"

        decided = admin.get(f"/api/v3/actions/{action['action_id']}").json()
        assert decided["status"] == "approved"
        assert decided["approved_by"] == ["bootstrap-admin"]
        assert [a["comment"] for a in decided["approvals"]] == [
            "Approved from the browser test: restart during low booking traffic."
        ]
        incident = admin.get(f"/api/v3/incidents/{incident_id}").json()
        assert incident["status"] == "acknowledged"
        audit = admin.get("/api/v3/audit", params={"target": f"action:{action['action_id']}"}).json()["items"]
        assert {"action.propose", "action.approve"} <= {event["action"] for event in audit}
