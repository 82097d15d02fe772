"""Through a real `aiops up` with no LLM reachable: error logs become an incident whose GET shows
an insight (root cause, recommendations, source "fallback") within 5 s of the first log."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support import start_node, stop_node, wait_until

pytestmark = pytest.mark.e2e

INSIGHT_SLO_SECONDS = 5.0
DEVICE = "vsat-modem-01"
# Lines the default detect.yaml log patterns match (carrier and lock lost on the VSAT modem).
LINES = [
    "RX carrier lost on demodulator 1, SNR 2.1 dB",
    "Rx lock lost, modem out of network",
    "RX carrier lost on demodulator 1, SNR 1.8 dB",
]


@pytest.fixture(scope="module")
def node_without_llm(tmp_path_factory):
    """A node with OLLAMA_URL empty: insights can only come from the fallback."""
    running = start_node(tmp_path_factory.mktemp("insight-node"), extra_env={"OLLAMA_URL": ""})
    yield running
    stop_node(running)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_incident_gets_a_fallback_insight_within_the_slo(node_without_llm):
    """Every incident carries insight.root_cause, insight.recommendations and insight.source
    "fallback", generated within 5 s of the first log's ingestion."""
    node = node_without_llm
    with node.client() as client:
        response = client.post("/api/v3/logs", json=[
            {"device_id": DEVICE, "service": "modem", "level": "error", "message": line} for line in LINES
        ])
        assert response.status_code == 202, response.text
        first_tracking_id = response.json()["tracking_ids"][0]

        def incident():
            items = client.get("/api/v3/incidents", params={"limit": 50}).json()["items"]
            mine = [i for i in items if DEVICE in [i["root_cause_device"], *i["affected_devices"]]]
            return mine[0] if mine else None

        found = wait_until(incident, timeout=60)

        def with_insight():
            body = client.get(f"/api/v3/incidents/{found['incident_id']}").json()
            return body if body.get("insight") else None

        body = wait_until(with_insight, timeout=60)

        def archived_first_log():
            response = client.get(f"/api/v3/trace/{first_tracking_id}")
            return response.json()["log"] if response.status_code == 200 and response.json().get("log") else None

        first_log = wait_until(archived_first_log, timeout=60)

    insight = body["insight"]
    assert insight["source"] == "fallback"
    assert insight["model"] is None
    assert insight["root_cause"]
    assert insight["recommendations"] and all(step for step in insight["recommendations"])
    assert insight["runbook_ids"], "the fallback names the runbook it is built from"
    ingested_at = _at(first_log["ingestion_timestamp"])
    # Server-side timestamps (the first log's ingestion, the insight's generation), not the test's polling.
    assert (_at(insight["generated_at"]) - ingested_at).total_seconds() <= INSIGHT_SLO_SECONDS
