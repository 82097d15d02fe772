"""Through real `aiops up` nodes: two ships sync their incidents to a shore hub (`--role shore`)
over NATS leaf nodes; the hub's API lists every ship's incidents, redacted, filtered by ship_id."""

from __future__ import annotations

import httpx
import pytest

from aiops_core.nats_server import free_port
from tests.support import start_node, stop_node, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHIPS = ("ms-aurora", "ms-borealis")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    leafnode_port = free_port()
    shore = start_node(
        tmp_path_factory.mktemp("shore"), args=["--role", "shore", "--ship-id", "shore-noc"],
        extra_env={"LEAFNODE_HOST": "127.0.0.1", "LEAFNODE_PORT": str(leafnode_port), "FLEET_SHIPS": ",".join(SHIPS)},
    )
    ships = {}
    try:
        for ship_id in SHIPS:
            ships[ship_id] = start_node(
                tmp_path_factory.mktemp(ship_id), args=["--ship-id", ship_id],
                extra_env={"SHORE_LEAF_URL": f"nats://127.0.0.1:{leafnode_port}"},
            )
        yield shore, ships
    finally:
        for node in ships.values():
            stop_node(node)
        stop_node(shore)


def open_incident(client: httpx.Client, title: str) -> dict:
    response = client.post("/api/v3/incidents", json={
        "incident_type": "app_degradation", "severity": "high", "title": title, "device_id": "pos-gw-01",
        "description": "opened by phone from the purser's desk",
    })
    assert response.status_code == 201, response.text
    return response.json()


def listed(client: httpx.Client, **params) -> dict[str, dict]:
    response = client.get("/api/v3/incidents", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return {item["incident_id"]: item for item in response.json()["items"]}


def test_the_shore_hub_runs_only_the_incident_api(fleet):
    """A hub has no logs or devices of its own: it runs the incident-api and nothing else."""
    shore, _ = fleet
    assert httpx.get(f"{shore.url}/health").json()["roles"] == ["incident-api"]


def test_the_shore_lists_every_ships_incidents_redacted_and_filters_by_ship(fleet):
    """An incident opened on each ship appears on the hub under its ship_id, without the guest's
    e-mail; the ship_id filter returns one ship's only; an acknowledgement on board follows."""
    shore, ships = fleet
    opened = {}
    for ship_id, node in ships.items():
        with node.client() as client:
            opened[ship_id] = open_incident(client, f"card terminal refuses jane.doe@example.com on {ship_id}")
    with shore.client() as client:
        wait_until(lambda: {i["incident_id"] for i in opened.values()} <= set(listed(client)), timeout=120)
        for ship_id, incident in opened.items():
            only = listed(client, ship_id=ship_id)
            assert incident["incident_id"] in only
            assert {item["ship_id"] for item in only.values()} == {ship_id}
            shown = only[incident["incident_id"]]
            assert "jane.doe@example.com" not in shown["title"] and "[EMAIL]" in shown["title"]

    aurora = opened["ms-aurora"]
    with ships["ms-aurora"].client() as client:
        response = client.patch(f"/api/v3/incidents/{aurora['incident_id']}", json={"status": "acknowledged"})
        assert response.status_code == 200, response.text
    with shore.client() as client:
        wait_until(lambda: listed(client, ship_id="ms-aurora")[aurora["incident_id"]]["status"] == "acknowledged",
                   timeout=60)
        detail = client.get(f"/api/v3/incidents/{aurora['incident_id']}").json()
        assert [e["kind"] for e in detail["timeline"]][-1] == "status"
