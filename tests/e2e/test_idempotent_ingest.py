"""Idempotent HTTP ingest through a real `aiops up`: a batch resent with its Idempotency-Key (as
a client does after a lost answer) is archived once."""

import uuid

import pytest

from tests.support import wait_until

pytestmark = pytest.mark.e2e


def test_a_batch_resent_with_its_idempotency_key_is_stored_once(node):
    """Two POSTs of one batch with one key return the same tracking ids and archive each line
    once; another key is another batch; a malformed key is refused with 422."""
    marker = f"idem-{uuid.uuid4().hex[:10]}"
    body = [{"device_id": "fw-01", "message": f"{marker} line {i}"} for i in range(5)]
    with node.client() as client:
        first = client.post("/api/v3/logs", json=body, headers={"Idempotency-Key": f"{marker}-a"})
        again = client.post("/api/v3/logs", json=body, headers={"Idempotency-Key": f"{marker}-a"})
        assert first.status_code == again.status_code == 202
        assert first.json()["tracking_ids"] == again.json()["tracking_ids"]
        other = client.post("/api/v3/logs", json=body[:1], headers={"Idempotency-Key": f"{marker}-b"})
        assert other.json()["tracking_ids"][0] not in first.json()["tracking_ids"]
        assert client.post("/api/v3/logs", json=body, headers={"Idempotency-Key": "has space"}).status_code == 422

        def archived():
            items = client.get("/api/v3/logs", params={"contains": marker, "limit": 100}).json()["items"]
            return items if len(items) >= 6 else None

        items = wait_until(archived, timeout=30)
        assert sorted(i["tracking_id"] for i in items) == sorted(first.json()["tracking_ids"] + other.json()["tracking_ids"])
