"""Through a real `aiops up`: every way in (UDP syslog, TCP syslog, POST, replay) ends archived and
traced under its tracking_id; bad input gets a clear error; shutdown loses nothing."""

import json
import socket
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.support import ROOT, start_node, stop_node, wait_until

pytestmark = pytest.mark.e2e


def trace(client: httpx.Client, tracking_id: str) -> dict | None:
    response = client.get(f"/api/v3/trace/{tracking_id}")
    if response.status_code != 200:
        return None
    body = response.json()
    return body if body.get("log") and body["stages"] else None


def search(client: httpx.Client, contains: str) -> list[dict]:
    return client.get("/api/v3/logs", params={"contains": contains}).json()["items"]


def test_health_docs_and_auth(node):
    """/health and /metrics are open; /docs serves OpenAPI; the API needs a token."""
    assert httpx.get(f"{node.url}/health").json()["status"] == "ok"
    assert "aiops_ingested_lines_total" in httpx.get(f"{node.url}/metrics").text
    assert httpx.get(f"{node.url}/openapi.json").status_code == 200
    assert httpx.get(f"{node.url}/api/v3/trace/{uuid.uuid4()}").status_code == 401
    assert httpx.post(f"{node.url}/api/v3/logs", json=[{"device_id": "a", "message": "m"}]).status_code == 401
    assert (node.data_dir / "admin.token").stat().st_mode & 0o077 == 0


def test_posted_log_is_archived_and_traced(node):
    """A POSTed log comes back from the trace API with its ingest stage and the archived log."""
    with node.client() as client:
        response = client.post("/api/v3/logs", json=[{
            "ship_id": "ms-aurora", "device_id": "res-app-01", "service": "reservations", "level": "info",
            "message": "booking 4411 confirmed", "fields": {"cabin_class": "balcony"},
        }])
        assert response.status_code == 202
        body = response.json()
        assert body["accepted"] == 1
        tracking_id = body["tracking_ids"][0]
        found = wait_until(lambda: trace(client, tracking_id))
    assert found["tracking_id"] == tracking_id
    assert found["stages"][0]["stage"] == "ingest"
    assert found["log"]["message"] == "booking 4411 confirmed"
    assert found["log"]["fields"] == {"cabin_class": "balcony"}
    assert found["log"]["device_id"] == "res-app-01"


def test_ndjson_is_accepted(node):
    """NDJSON bodies work like JSON arrays."""
    lines = "\n".join(json.dumps({"device_id": "sw-acc-01", "message": f"line {i}"}) for i in range(3))
    with node.client() as client:
        response = client.post("/api/v3/logs", content=lines, headers={"content-type": "application/x-ndjson"})
    assert response.status_code == 202 and response.json()["accepted"] == 3


def test_syslog_over_udp_and_tcp_is_archived(node):
    """Syslog lines over UDP and over TCP (octet-counted) are archived with the device from the registry."""
    marker_udp, marker_tcp = f"udp-{uuid.uuid4().hex[:8]}", f"tcp-{uuid.uuid4().hex[:8]}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(f"<131>Nov 24 10:00:00 vsat-modem-01 modem[77]: RX lock lost {marker_udp}".encode(),
                   ("127.0.0.1", node.syslog_port))
    frame = f"<14>1 2026-11-24T10:00:00Z pos-gw-01 pos 99 - - payment ok {marker_tcp}".encode()
    with socket.create_connection(("127.0.0.1", node.syslog_port)) as tcp:
        tcp.sendall(str(len(frame)).encode() + b" " + frame)
    with node.client() as client:
        for marker, device, level in ((marker_udp, "vsat-modem-01", "error"), (marker_tcp, "pos-gw-01", "info")):
            found = wait_until(lambda m=marker: search(client, m))
            assert (found[0]["device_id"], found[0]["level"]) == (device, level)
            traced = wait_until(lambda f=found: trace(client, f[0]["tracking_id"]))
            assert traced["stages"][0]["stage"] == "ingest"


def test_replayed_file_is_archived_and_traced(node, tmp_path):
    """`aiops replay FILE` sends JSON and syslog lines; each comes back traced under its tracking_id."""
    log_file = tmp_path / "replay.log"
    log_file.write_text("\n".join([
        json.dumps({"device_id": "core-rtr-01", "service": "bgp", "level": "warning", "message": "BGP neighbor 10.0.0.2 flap"}),
        "<187>Nov 24 10:00:00 fw-01 kernel: conntrack table full",
        "this line is not syslog but is still a log line",
    ]) + "\n")
    ids_file = tmp_path / "ids.txt"
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "replay", str(log_file), "--url", node.url, "--token", node.token(),
         "--rate", "100", "--ids-out", str(ids_file), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    ids = ids_file.read_text().split()
    assert len(ids) == 3
    with node.client() as client:
        traces = [wait_until(lambda i=i: trace(client, i)) for i in ids]
    assert traces[0]["log"]["source"] == "replay"
    assert traces[1]["log"]["device_id"] == "fw-01"
    assert all(t["stages"][0]["stage"] == "ingest" for t in traces)


def test_bad_input_gets_a_clear_4xx(node):
    """Malformed requests are answered 4xx naming the problem; the node stays healthy."""
    with node.client() as client:
        bad_json = client.post("/api/v3/logs", content=b"[{not json", headers={"content-type": "application/json"})
        assert bad_json.status_code == 400 and "invalid JSON" in bad_json.text
        bad_field = client.post("/api/v3/logs", json=[{"device_id": "ok", "message": "m", "level": "loud"}])
        assert bad_field.status_code == 422 and "[0].level" in bad_field.text
        empty = client.post("/api/v3/logs", json=[])
        assert empty.status_code == 422
        bad_id = client.get("/api/v3/trace/not-a-uuid")
        assert bad_id.status_code == 422
        unknown = client.get(f"/api/v3/trace/{uuid.uuid4()}")
        assert unknown.status_code == 404
        raw = client.post("/api/v3/logs/syslog", content=b"<999>bad pri\n<14>Nov 24 10:00:00 h app: ok")
        assert raw.status_code == 202
        assert raw.json()["accepted"] == 1 and raw.json()["rejected"][0]["line"] == 1
    assert httpx.get(f"{node.url}/health").status_code == 200


def test_sigterm_loses_nothing(tmp_path):
    """Logs accepted just before SIGTERM are all archived, once each, after a restart on the same data dir."""
    data_dir = tmp_path / "node"
    first = start_node(data_dir)
    marker = f"burst-{uuid.uuid4().hex[:8]}"
    with first.client() as client:
        ids = []
        for batch in range(5):
            body = [{"device_id": "sw-acc-02", "message": f"{marker} {batch}-{i}"} for i in range(200)]
            ids += client.post("/api/v3/logs", json=body).json()["tracking_ids"]
    assert stop_node(first) == 0
    second = start_node(data_dir)
    try:
        with second.client() as client:
            def all_archived():
                items = client.get("/api/v3/logs", params={"contains": marker, "limit": 1000}).json()["items"]
                return items if len(items) >= len(ids) else None

            items = wait_until(all_archived, timeout=30)
    finally:
        stop_node(second)
    assert sorted(i["tracking_id"] for i in items) == sorted(ids)
