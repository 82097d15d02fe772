"""Fixtures shared by the integration tests."""

import pytest

from aiops_core.bus import Bus


@pytest.fixture
async def bus(nats_server):
    """A bus on the session's real nats-server, its streams and consumers declared (3 deliveries,
    5 s ack wait); a test module may declare its own with other limits."""
    b = await Bus.connect(nats_server.url, role="test")
    await b.ensure_topology(max_deliver=3, ack_wait_seconds=5)
    yield b
    await b.close()
