"""The fast path through a real `aiops up`: a fault on board becomes one well-formed incident."""

import time
import uuid

import httpx
import pytest

from tests.support import wait_until

pytestmark = pytest.mark.e2e

SHIP = "ms-aurora"


def post(client: httpx.Client, device: str, service: str, level: str, messages: list[str]) -> list[str]:
    body = [{"ship_id": SHIP, "device_id": device, "service": service, "level": level, "message": m} for m in messages]
    response = client.post("/api/v3/logs", json=body)
    assert response.status_code == 202, response.text
    return response.json()["tracking_ids"]


def incidents(client: httpx.Client, **filters) -> list[dict]:
    return client.get("/api/v3/incidents", params={"limit": 500, **filters}).json()["items"]


@pytest.fixture(scope="module")
def vsat_fault(node):
    """50 carrier-lost logs from the VSAT modem, errors downstream of it, and an SSH brute force
    on a crew server; returns what was sent once the pipeline has settled."""
    with node.client() as client:
        modem = post(client, "vsat-modem-01", "modem", "error",
                     [f"RX carrier lost on demodulator 1, Es/No {0.2 + i / 100:.2f} dB" for i in range(50)])
        firewall = post(client, "fw-01", "fortigate", "error",
                        ["IPsec tunnel to shore-gw: peer 198.51.100.1 unreachable, DPD timeout"] * 3)
        pos = post(client, "pos-gw-01", "pos", "error", ["payment gateway timeout after 30000 ms"] * 3)
        reservations = post(client, "res-app-01", "reservations", "error",
                            ["sync to shore reservation server failed: connection timed out"] * 3)
        ssh = post(client, "crew-portal-01", "sshd", "warning",
                   [f"Failed password for invalid user admin{i} from 203.0.113.7 port {50000 + i} ssh2" for i in range(12)])

        def settled():
            link = incidents(client, incident_type="link_degradation")
            if link and link[0]["anomaly_count"] >= 50 + 9 and incidents(client, incident_type="auth_failure"):
                return link
            return None

        wait_until(settled, timeout=60)
        time.sleep(1.0)  # let any straggling (wrong) second incident surface before asserting
    return {"modem": modem, "firewall": firewall, "pos": pos, "reservations": reservations, "ssh": ssh}


def test_one_link_incident_rooted_at_the_modem(node, vsat_fault):
    """50 carrier-lost logs plus downstream errors make exactly one link_degradation incident,
    rooted at the modem, with the downstream devices affected."""
    with node.client() as client:
        link = incidents(client, incident_type="link_degradation")
        assert len(link) == 1, [(i["root_cause_device"], i["anomaly_count"]) for i in link]
        incident = link[0]
        assert incident["root_cause_device"] == "vsat-modem-01"
        assert incident["anomaly_count"] == 59
        assert {"fw-01", "pos-gw-01", "res-app-01"} <= set(incident["affected_devices"])
        assert incident["severity"] == "critical"
        assert incident["status"] == "open"
        for key in ("incident_id", "ship_id", "incident_type", "severity", "status", "title", "root_cause_device",
                    "anomaly_count", "tracking_ids", "first_seen", "last_seen", "timeline"):
            assert key in incident
        assert set(vsat_fault["modem"][-10:]) <= set(incident["tracking_ids"])
        # No other incident took any of these anomalies.
        others = [i for i in incidents(client) if i["incident_id"] != incident["incident_id"]]
        assert not [i for i in others if {"vsat-modem-01", "fw-01", "pos-gw-01", "res-app-01"} & set(i["affected_devices"])]


def test_auth_failures_are_a_separate_incident(node, vsat_fault):
    """SSH failures on a crew server are their own auth_failure incident, not part of the link fault."""
    with node.client() as client:
        auth = incidents(client, incident_type="auth_failure")
    assert len(auth) == 1
    assert auth[0]["root_cause_device"] == "crew-portal-01"
    assert auth[0]["anomaly_count"] == 12


def test_incident_detail_has_timeline_and_anomalies(node, vsat_fault):
    """GET /incidents/{id} carries the timeline and every anomaly with its tracking_id."""
    with node.client() as client:
        incident = incidents(client, incident_type="link_degradation")[0]
        detail = client.get(f"/api/v3/incidents/{incident['incident_id']}").json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert "created" in kinds and kinds.count("anomaly") >= 1
    assert [e["at"] for e in detail["timeline"]] == sorted(e["at"] for e in detail["timeline"])
    assert len(detail["anomalies"]) == 59
    assert set(vsat_fault["pos"]) <= {a["tracking_id"] for a in detail["anomalies"]}


def test_posted_error_log_trace_has_all_five_stages(node, vsat_fault):
    """A POSTed error log's trace lists ingest → detection → enrichment → correlation → incident-api."""
    tracking_id = vsat_fault["modem"][0]
    with node.client() as client:
        def full():
            body = client.get(f"/api/v3/trace/{tracking_id}").json()
            return body if len(body["stages"]) == 5 else None

        trace = wait_until(full, timeout=20)
    assert [s["stage"] for s in trace["stages"]] == [
        "ingest", "anomaly-detection", "enrichment", "correlation", "incident-api"]
    assert all(s["duration_ms"] >= 0 for s in trace["stages"])
    assert trace["total_latency_ms"] > 0
    assert trace["incident_id"]
    assert trace["log"]["message"].startswith("RX carrier lost")


def test_unknown_tracking_id_is_404(node):
    """A tracking_id the node never saw has no trace."""
    with node.client() as client:
        assert client.get(f"/api/v3/trace/{uuid.uuid4()}").status_code == 404


def test_filters_and_pagination(node, vsat_fault):
    """List filters narrow by type, severity, status and ship; pages do not overlap."""
    with node.client() as client:
        everything = client.get("/api/v3/incidents", params={"limit": 500}).json()
        assert everything["total"] >= 2
        assert all(i["severity"] == "critical" for i in incidents(client, severity="critical"))
        assert incidents(client, ship_id="another-ship") == []
        first = client.get("/api/v3/incidents", params={"limit": 1, "offset": 0}).json()["items"]
        second = client.get("/api/v3/incidents", params={"limit": 1, "offset": 1}).json()["items"]
        assert first[0]["incident_id"] != second[0]["incident_id"]
        assert client.get("/api/v3/incidents", params={"severity": "apocalyptic"}).status_code == 422
        assert client.get("/api/v3/incidents", params={"limit": 5000}).status_code == 422


def test_status_transitions_are_validated_and_on_the_timeline(node, vsat_fault):
    """Acknowledge then resolve is allowed and recorded; resolving twice is a 409."""
    with node.client() as client:
        auth = incidents(client, incident_type="auth_failure")[0]
        url = f"/api/v3/incidents/{auth['incident_id']}"
        assert client.patch(url, json={"status": "acknowledged", "comment": "looking"}).json()["status"] == "acknowledged"
        resolved = client.patch(url, json={"status": "resolved", "resolution": "blocked 203.0.113.7 at fw-01"})
        assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
        assert client.patch(url, json={"status": "resolved"}).status_code == 409
        assert client.patch(url, json={"status": "closed"}).status_code == 422
        detail = client.get(url).json()
        assert [e["kind"] for e in detail["timeline"]].count("status") == 2
        assert incidents(client, status="resolved")[0]["incident_id"] == auth["incident_id"]


def test_stats_report_counts_latencies_and_slo(node, vsat_fault):
    """/stats has counts by severity/status/type/ship, fast-path p50/p95/p99 and SLO compliance."""
    with node.client() as client:
        stats = client.get("/api/v3/stats", params={"time_range": "1h"}).json()
        assert client.get("/api/v3/stats", params={"time_range": "forever"}).status_code == 422
    assert stats["incidents"]["by_type"]["link_degradation"] == 1
    assert stats["incidents"]["by_ship"][SHIP] >= 2
    assert stats["fast_path"]["count"] >= 71
    assert stats["fast_path"]["p99_ms"] is not None and stats["fast_path"]["p50_ms"] <= stats["fast_path"]["p99_ms"]
    assert stats["slo"]["fast_path_p99_ms"]["target"] == 100
    assert stats["dedup"]["deduplicated"] >= 69
