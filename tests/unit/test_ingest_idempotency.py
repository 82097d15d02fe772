"""Tracking ids derived from an Idempotency-Key: stable for a resend, distinct otherwise."""

import uuid

from services.ingest.handlers import IDEMPOTENCY_KEY, idempotent_tracking_ids


def test_a_resent_batch_gets_the_same_ids_and_anything_else_different_ones():
    """Same client, key and position give the same UUID; another client, key or position does not."""
    first = idempotent_tracking_ids("vector", "batch-17", 3)
    assert first == idempotent_tracking_ids("vector", "batch-17", 3)
    assert len(set(first)) == 3 and all(str(uuid.UUID(t)) == t for t in first)
    others = idempotent_tracking_ids("replay", "batch-17", 3) + idempotent_tracking_ids("vector", "batch-18", 3)
    assert not set(first) & set(others)


def test_key_syntax():
    """Keys are 1 to 128 printable characters without spaces."""
    assert IDEMPOTENCY_KEY.fullmatch("chaos-3f2a:125")
    assert not IDEMPOTENCY_KEY.fullmatch("")
    assert not IDEMPOTENCY_KEY.fullmatch("a b")
    assert not IDEMPOTENCY_KEY.fullmatch("k" * 129)
