"""The store relay: a worker's reads answered by the node's store over real NATS and chDB."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import nats
import pytest

from aiops_core.store import StoreUnavailable
from aiops_core.store_relay import RelayStore, StoreRelay, _decode, _encode


def test_values_json_cannot_carry_come_back_as_themselves():
    row = {
        "at": datetime(2026, 11, 25, 3, 4, 5, 678000, tzinfo=UTC),
        "day": date(2026, 11, 25),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "tags": ("a", "b"),
        "nested": {"when": [datetime(2026, 1, 1, tzinfo=UTC)]},
        "n": 3,
    }
    back = _decode(_encode(row))
    assert back == {**row, "tags": ["a", "b"]}
    assert back["at"].tzinfo is not None


@pytest.fixture
async def relay_pair(nats_server, store):
    node_nc = await nats.connect(nats_server.url)
    worker_nc = await nats.connect(nats_server.url)
    relay = StoreRelay(node_nc, store, subject=f"aiops.node.store.{uuid.uuid4().hex}")
    await relay.start()
    remote = RelayStore(worker_nc, subject=relay.subject, timeout_seconds=5)
    await remote.start(timeout=10)
    yield remote
    await relay.stop()
    await worker_nc.close()
    await node_nc.close()


async def test_a_worker_reads_what_the_node_reads(relay_pair, store):
    ship = f"relay-{uuid.uuid4().hex[:8]}"
    sql = "SELECT {ship:String} AS ship, toDateTime64({at:String}, 3, 'UTC') AS at, [1, 2] AS xs"
    parameters = {"ship": ship, "at": "2026-11-25 03:04:05.678"}
    assert await relay_pair.query(sql, parameters) == await store.query(sql, parameters)
    assert await relay_pair.scalar("SELECT {n:UInt32} + 1", {"n": 41}) == 42
    assert await relay_pair.ping()


async def test_a_bad_query_is_an_error_for_the_worker_not_the_node(relay_pair):
    with pytest.raises(StoreUnavailable, match="store relay"):
        await relay_pair.query("SELECT * FROM aiops.no_such_table")
    # The relay still answers afterwards.
    assert await relay_pair.scalar("SELECT 1") == 1


async def test_writes_are_refused_by_the_worker_side(relay_pair):
    with pytest.raises(StoreUnavailable, match="cannot write"):
        await relay_pair.insert("devices", ["ship_id"], [["x"]])
    with pytest.raises(StoreUnavailable, match="cannot write"):
        await relay_pair.command("DROP TABLE aiops.devices")


async def test_the_relay_runs_only_reads(relay_pair, store):
    with pytest.raises(StoreUnavailable, match="only SELECT"):
        await relay_pair.query("DROP TABLE aiops.devices")
    assert await store.scalar("EXISTS TABLE aiops.devices") == 1


async def test_no_relay_means_unavailable_not_a_hang(nats_server):
    nc = await nats.connect(nats_server.url)
    try:
        remote = RelayStore(nc, subject="aiops.node.store.nobody", timeout_seconds=0.5)
        assert await remote.ping() is False
        with pytest.raises(StoreUnavailable):
            await remote.start(timeout=1)
    finally:
        await nc.close()
