"""The NATS side of ship to shore: each node's JetStream domain and its leaf-node configuration.

A ship's embedded nats-server is a leaf node of the shore hub. Both run JetStream, each in its own
domain (the ship's id, or `shore`), so each keeps its own streams and the hub reaches a ship's
outbox as `$JS.<ship>.API`. Every application subject is denied on the leaf link in both
directions: what crosses is only JetStream's own traffic for sourcing SHORE_OUTBOX into FLEET."""

from __future__ import annotations

from aiops_core.bus import STREAMS, ship_token
from aiops_core.settings import Settings

SHORE_DOMAIN = "shore"
# A hub only stores and serves what ships send: no logs, devices or LLM of its own to work on.
SHORE_ROLES = ("incident-api",)


def jetstream_domain(settings: Settings) -> str:
    if settings.is_shore:
        return SHORE_DOMAIN
    domain = ship_token(settings.ship_id)
    if domain == SHORE_DOMAIN:
        raise ValueError(f"ship id {settings.ship_id!r} is the hub's JetStream domain; choose another")
    return domain


def local_only_subjects() -> list[str]:
    """Subjects that never cross the leaf link: every stream's (raw logs above all, and the
    outbox itself, whose content leaves only by being sourced), KV/object-store writes and the
    node's own requests (its store relay)."""
    return sorted({subject for spec in STREAMS for subject in spec.subjects} | {"$KV.>", "$O.>", "aiops.node.>"})


def leafnode_config(settings: Settings) -> str:
    """The nats-server `leafnodes` block: a hub listens for ships; a ship with SHORE_LEAF_URL
    dials the hub and retries every few seconds for as long as the link is down."""
    if settings.is_shore:
        # no_advertise: a ship keeps dialling the address it was given (the hub's public name,
        # behind NAT or a load balancer), never the hub's internal listen address.
        return (
            "leafnodes {\n"
            f'  listen: "{settings.leafnode_host}:{settings.leafnode_port}"\n'
            "  no_advertise: true\n"
            "}\n"
        )
    if not settings.shore_leaf_url:
        return ""
    deny = ", ".join(f'"{subject}"' for subject in local_only_subjects())
    return (
        "leafnodes {\n"
        '  reconnect: "2s"\n'
        "  remotes = [\n"
        f'    {{ url: "{settings.shore_leaf_url}", deny_imports: [{deny}], deny_exports: [{deny}] }}\n'
        "  ]\n"
        "}\n"
    )
