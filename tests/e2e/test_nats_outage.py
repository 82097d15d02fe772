"""NATS down under a real `aiops up` (NATS_URL pointing at a nats-server the test stops): HTTP
ingest answers 503 with Retry-After, syslog lines go to the disk journal in the data dir, and
once the server is back every journalled line is archived, in the order sent."""

from __future__ import annotations

import re
import socket
import uuid

import httpx
import pytest

from aiops_core.nats_server import NatsServer, free_port
from tests.support import metric_value, start_node, stop_node, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def metric(client: httpx.Client, name: str) -> float:
    return metric_value(client, name)


def test_nats_outage_gives_503_over_http_and_journals_syslog_until_it_is_back(tmp_path):
    """While the nats-server is down: POST /logs is 503 + Retry-After, /health is 503, syslog over
    TCP lands in <data-dir>/ingest-buffer; after its restart every line is archived in order."""
    nats_server = NatsServer(store_dir=tmp_path / "nats", port=free_port(), server_name="outage-test")
    nats_server.start()
    node = start_node(tmp_path / "node", extra_env={"NATS_URL": nats_server.url})
    marker = f"outage-{uuid.uuid4().hex[:10]}"
    try:
        with node.client() as client:
            nats_server.stop()
            wait_until(lambda: client.get("/health").status_code == 503, timeout=20)
            refused = client.post("/api/v3/logs", json=[{"device_id": "fw-01", "message": f"{marker} http"}])
            assert refused.status_code == 503
            assert int(refused.headers["retry-after"]) > 0

            with socket.create_connection(("127.0.0.1", node.syslog_port), timeout=10) as sock:
                sock.sendall(b"".join(f"<134>Nov 25 10:00:00 FGT-AURORA-01 fortigate: {marker} {i}\n".encode()
                                      for i in range(200)))
            wait_until(lambda: metric(client, "aiops_ingest_disk_buffer_lines") >= 200, timeout=60)
            journal = list((node.data_dir / "ingest-buffer").glob("*.ndjson"))
            assert sum(len(p.read_bytes().splitlines()) for p in journal) == 200

            nats_server.start()
            wait_until(lambda: client.get("/health").status_code == 200, timeout=60)

            def archived():
                items = client.get("/api/v3/logs", params={"contains": marker, "limit": 1000}).json()["items"]
                return items if len(items) == 200 else None

            items = wait_until(archived, timeout=90, interval=1.0)
            # Newest first: reversed, the journal's replay kept the order of arrival.
            numbers = [int(i["message"].rsplit(" ", 1)[1]) for i in reversed(items)]
            assert numbers == list(range(200))
            assert metric(client, "aiops_ingest_disk_buffer_lines") == 0
            assert not list((node.data_dir / "ingest-buffer").glob("*.ndjson"))
            assert client.post("/api/v3/logs", json=[{"device_id": "fw-01", "message": f"{marker} http"}]).status_code == 202
    finally:
        stop_node(node)
        nats_server.stop()
