"""Ship to shore on two real nats-servers: the ship is a leaf node of the shore hub through a TCP
proxy the test cuts and restores, as the satellite link would be."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import pytest

from aiops_core.bus import (
    FLEET_STREAM,
    INCIDENTS_CREATED,
    INCIDENTS_ENRICHED,
    INCIDENTS_STATUS,
    INCIDENTS_UPDATED,
    LOGS_RAW,
    Bus,
    Outgoing,
    decode,
)
from aiops_core.models import EnrichedIncident, IncidentChange, IncidentStatus, LogEntry, new_tracking_id, utc_now
from aiops_core.nats_server import NatsServer, free_port
from aiops_core.policy import load_policy
from aiops_core.runtime import Runtime
from aiops_core.settings import Settings
from services.incident_api.app import IncidentApiRole
from services.shore_sync.app import start_shore_sync
from services.shore_sync.leaf import jetstream_domain, leafnode_config
from tests.shore_sync_data import PII, RAW_LINE_MARKER, SHIP, change, insight
from tests.support import async_wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POLICIES = Path(__file__).resolve().parents[2] / "policies"
SUBJECT_OF = {"created": INCIDENTS_CREATED, "updated": INCIDENTS_UPDATED, "status": INCIDENTS_STATUS}


class LinkProxy:
    """The satellite link: a loopback TCP proxy to the hub's leafnode port that can be cut."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def restore(self) -> None:
        self.server = await asyncio.start_server(self._pipe_both_ways, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()
        self.writers.clear()

    async def _pipe_both_ways(self, ship_reader, ship_writer) -> None:
        self.connections += 1
        try:
            hub_reader, hub_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            ship_writer.close()
            return
        self.writers |= {ship_writer, hub_writer}
        await asyncio.gather(_copy(ship_reader, hub_writer), _copy(hub_reader, ship_writer))


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.fixture
async def fleet(tmp_path, store):
    """A shore hub and one ship, each with its own JetStream domain, linked through LinkProxy; the
    ship runs its outbox forwarder and the hub its fleet consumer, both through their app wiring."""
    hub_settings = Settings(node_role="shore", leafnode_host="127.0.0.1", leafnode_port=free_port(), fleet_ships=SHIP)
    proxy = LinkProxy(hub_settings.leafnode_port)
    await proxy.restore()
    ship_settings = Settings(ship_id=SHIP, shore_leaf_url=f"nats://127.0.0.1:{proxy.port}")
    servers = []
    for name, settings in (("shore", hub_settings), ("ship", ship_settings)):
        server = NatsServer(store_dir=tmp_path / name, port=free_port(), server_name=f"test-{name}",
                            domain=jetstream_domain(settings), extra_config=leafnode_config(settings))
        await asyncio.to_thread(server.start)
        servers.append(server)
    hub_server, ship_server = servers
    hub = await Bus.connect(hub_server.url, "incident-api")
    ship = await Bus.connect(ship_server.url, "incident-api")
    await hub.ensure_topology(max_deliver=3, ack_wait_seconds=5, fleet_ships=[SHIP])
    await ship.ensure_topology(max_deliver=3, ack_wait_seconds=5)
    # Each side declares only its own end: no outbox forwarder on the hub, no FLEET on the ship.
    hub_durables = {c.name for c in await hub.js.consumers_info("INCIDENTS")}
    assert "shore-outbox" not in hub_durables and "incident-api" in hub_durables
    assert "shore-outbox" in {c.name for c in await ship.js.consumers_info("INCIDENTS")}
    policy = load_policy(POLICIES, SHIP)
    ship_runtime = Runtime(settings=ship_settings, policy=policy, bus=ship, store=store)
    hub_runtime = Runtime(settings=hub_settings, policy=policy, bus=hub, store=store)
    hub_role = IncidentApiRole()
    hub_role.runtime = hub_runtime
    await start_shore_sync(ship_runtime, write=_unused, operator_status={})
    await start_shore_sync(hub_runtime, write=hub_role._write, operator_status=hub_role.operator_status)
    yield ship, hub, proxy, hub_role
    for runtime in (ship_runtime, hub_runtime):
        runtime.stop.set()
        await asyncio.gather(*runtime.tasks)
    await ship.close()
    await hub.close()
    with contextlib.suppress(Exception):
        await proxy.cut()
    for server in servers:
        await asyncio.to_thread(server.stop)


async def _unused(rows) -> None:
    raise AssertionError("a ship's outbox forwarder writes nothing to the store")


async def stream_messages(bus: Bus, stream: str) -> list:
    last = (await bus.js.stream_info(stream)).state.last_seq
    return [await bus.js.get_msg(stream, seq) for seq in range(1, last + 1)]


async def count(bus: Bus, stream: str) -> int:
    return (await bus.js.stream_info(stream)).state.messages


def identity(subject: str, data: bytes) -> tuple[str, str, int]:
    message = decode(subject, data)
    if isinstance(message, IncidentChange):
        return message.change, message.incident.incident_id, message.incident.version
    assert isinstance(message, EnrichedIncident)
    return "insight", message.incident_id, message.incident_version


async def publish_changes(ship: Bus, changes: list[IncidentChange]) -> set[tuple[str, str, int]]:
    for c in changes:
        await ship.publish(Outgoing(SUBJECT_OF[c.change], c, f"{c.incident.incident_id}:{c.incident.version}:{c.change}"))
    return {(c.change, c.incident.incident_id, c.incident.version) for c in changes}


async def test_every_incident_reaches_the_shore_exactly_once_across_a_link_outage(fleet):
    """Incidents made before, during and after a cut of the leaf link all land in FLEET once each,
    redacted, without a raw log line, and the hub stores them; the ship's raw logs never cross."""
    ship, hub, proxy, hub_role = fleet
    leaked: list = []

    async def on_log(msg) -> None:
        leaked.append(msg)

    # Interest on the hub in raw logs: were the link open to them, the ship would forward them.
    await hub.nc.subscribe("logs.>", cb=on_log)
    before = [change() for _ in range(3)]
    expected = await publish_changes(ship, before)
    await async_wait_until(lambda: _has(hub, FLEET_STREAM, len(expected)), timeout=60)

    await proxy.cut()
    acked = change("status", incident_id=before[0].incident.incident_id, version=2, status=IncidentStatus.ACKNOWLEDGED)
    reopened_by_correlation = change("updated", incident_id=before[0].incident.incident_id, version=3)
    during = [acked, reopened_by_correlation, *(change() for _ in range(4))]
    expected |= await publish_changes(ship, during)
    # A redelivered input (same change under a new msg id upstream) must not be sent twice.
    await ship.publish(Outgoing(INCIDENTS_CREATED, during[2], f"{during[2].incident.incident_id}:redelivered"))
    explained = insight(before[1].incident.incident_id)
    await ship.publish(Outgoing(INCIDENTS_ENRICHED, explained, f"{explained.incident_id}:1:enriched"))
    expected.add(("insight", explained.incident_id, 1))
    # Everything waits in the ship's outbox; nothing can have reached the shore while cut.
    await async_wait_until(lambda: _has(ship, "SHORE_OUTBOX", len(expected)), timeout=30)
    assert await count(hub, FLEET_STREAM) == len(before)

    await proxy.restore()
    expected |= await publish_changes(ship, [change()])
    await async_wait_until(lambda: _has(hub, FLEET_STREAM, len(expected)), timeout=120)
    assert proxy.connections >= 2  # the ship came back through the restored link
    # The link is up again: raw logs published now would cross it if the leaf config let them,
    # and would be on the shore by the time the last incident is.
    for i in range(20):
        now = utc_now()
        entry = LogEntry(tracking_id=new_tracking_id(), ship_id=SHIP, device_id="pos-gw-01", timestamp=now,
                         ingestion_timestamp=now, message=f"{RAW_LINE_MARKER} {PII['email']} {i}")
        await ship.publish(Outgoing(LOGS_RAW, entry, entry.tracking_id))
    expected |= await publish_changes(ship, [change()])
    await async_wait_until(lambda: _has(hub, FLEET_STREAM, len(expected)), timeout=60)

    messages = await stream_messages(hub, FLEET_STREAM)
    seen = Counter(identity(m.subject, m.data) for m in messages)
    assert set(seen) == expected
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n > 1]
    assert {m.subject for m in messages} == {f"shore.incidents.{SHIP}", f"shore.insights.{SHIP}"}
    for m in messages:
        text = m.data.decode()
        assert RAW_LINE_MARKER not in text
        for kind, value in PII.items():
            assert value not in text, kind
    assert await count(hub, "LOGS") == 0
    assert leaked == []

    # The hub's fleet consumer stored every incident, the officer's acknowledgement outranking
    # correlation's later "open".
    ids = sorted({incident_id for _, incident_id, _ in expected})
    rows = await async_wait_until(lambda: _stored(hub_role, ids), timeout=60)
    assert {r["id"] for r in rows} == set(ids)
    assert {r["ship_id"] for r in rows} == {SHIP}
    status_of = {r["id"]: r["status"] for r in rows}
    assert status_of[before[0].incident.incident_id] == "acknowledged"


async def _has(bus: Bus, stream: str, n: int) -> bool:
    return await count(bus, stream) >= n


async def _stored(role: IncidentApiRole, ids: list[str]) -> list[dict] | None:
    rows = await role.runtime.store.query(
        "SELECT toString(incident_id) AS id, ship_id, status FROM aiops.incidents FINAL "
        "WHERE incident_id IN {ids:Array(UUID)}", {"ids": ids},
    )
    return rows if len(rows) == len(ids) else None


async def test_adding_a_ship_to_the_fleet_does_not_resend_the_others(fleet):
    """Re-declaring FLEET with one more ship (a hub restarted with a longer FLEET_SHIPS) keeps every
    existing source's position: what was already sourced is not sourced again."""
    ship, hub, _, _ = fleet
    expected = await publish_changes(ship, [change() for _ in range(3)])
    await async_wait_until(lambda: _has(hub, FLEET_STREAM, len(expected)), timeout=60)
    await hub.ensure_topology(max_deliver=3, ack_wait_seconds=5, fleet_ships=[SHIP, "ms-borealis"])
    expected |= await publish_changes(ship, [change()])
    await async_wait_until(lambda: _has(hub, FLEET_STREAM, len(expected)), timeout=60)
    info = await hub.js.stream_info(FLEET_STREAM)
    assert sorted(s.external.api for s in info.config.sources) == ["$JS.ms-aurora.API", "$JS.ms-borealis.API"]
    seen = Counter(identity(m.subject, m.data) for m in await stream_messages(hub, FLEET_STREAM))
    assert set(seen) == expected and set(seen.values()) == {1}
