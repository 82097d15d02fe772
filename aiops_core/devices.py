"""The device registry: which ship and device a syslog host is, and each device's place in the
topology. Loaded from the store's `devices` table (seeded from the ship's inventory YAML)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from aiops_core.models import DeviceContext, Severity

_NOT_ID = re.compile(r"[^a-z0-9._-]+")


def device_id_from_host(host: str) -> str:
    """A valid device_id from an arbitrary syslog hostname (unknown hosts still get an id)."""
    cleaned = _NOT_ID.sub("-", host.strip().lower()).strip("-._")
    return (cleaned or "unknown")[:64]


@dataclass(frozen=True)
class Device:
    ship_id: str
    device_id: str
    kind: str = "unknown"
    vendor: str = ""
    model: str = ""
    location: str = ""
    criticality: str = "medium"
    upstream: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    host_aliases: tuple[str, ...] = ()
    mgmt_ip: str = ""

    def context(self) -> DeviceContext:
        return DeviceContext(
            device_id=self.device_id,
            kind=self.kind,
            vendor=self.vendor or None,
            model=self.model or None,
            location=self.location or None,
            criticality=Severity(self.criticality) if self.criticality in Severity._value2member_map_ else Severity.MEDIUM,
            upstream=list(self.upstream),
            services=list(self.services),
        )

    def row(self) -> list:
        return [
            self.ship_id, self.device_id, self.kind, self.vendor, self.model, self.location,
            self.criticality, list(self.upstream), list(self.services), list(self.host_aliases),
            self.mgmt_ip, datetime.now(timezone.utc),
        ]


DEVICE_COLUMNS = [
    "ship_id", "device_id", "kind", "vendor", "model", "location", "criticality",
    "upstream", "services", "host_aliases", "mgmt_ip", "updated_at",
]


@dataclass
class DeviceRegistry:
    devices: dict[tuple[str, str], Device] = field(default_factory=dict)
    _by_host: dict[str, Device] = field(default_factory=dict)

    @classmethod
    def of(cls, devices: list[Device]) -> DeviceRegistry:
        registry = cls()
        for device in devices:
            registry.add(device)
        return registry

    def add(self, device: Device) -> None:
        self.devices[(device.ship_id, device.device_id)] = device
        for name in (device.device_id, *device.host_aliases, device.mgmt_ip):
            if name:
                self._by_host[name.lower()] = device

    def by_host(self, host: str | None) -> Device | None:
        if not host:
            return None
        return self._by_host.get(host.lower())

    def get(self, ship_id: str, device_id: str) -> Device | None:
        return self.devices.get((ship_id, device_id))

    def downstream_of(self, ship_id: str, device_id: str) -> list[Device]:
        return [d for (s, _), d in self.devices.items() if s == ship_id and device_id in d.upstream]

    def upstream_chain(self, ship_id: str, device_id: str, max_hops: int = 8) -> list[str]:
        """Every device this one depends on, nearest first (breadth-first, cycle-safe)."""
        chain: list[str] = []
        frontier = [device_id]
        seen = {device_id}
        for _ in range(max_hops):
            next_frontier = []
            for current in frontier:
                device = self.get(ship_id, current)
                for parent in device.upstream if device else ():
                    if parent not in seen:
                        seen.add(parent)
                        chain.append(parent)
                        next_frontier.append(parent)
            if not next_frontier:
                break
            frontier = next_frontier
        return chain


def device_from_row(row: dict) -> Device:
    return Device(
        ship_id=row["ship_id"], device_id=row["device_id"], kind=row["kind"], vendor=row["vendor"],
        model=row["model"], location=row["location"], criticality=row["criticality"],
        upstream=tuple(row["upstream"]), services=tuple(row["services"]),
        host_aliases=tuple(row["host_aliases"]), mgmt_ip=row["mgmt_ip"],
    )


LOAD_DEVICES_SQL = (
    "SELECT ship_id, device_id, argMax(kind, updated_at) AS kind, argMax(vendor, updated_at) AS vendor, "
    "argMax(model, updated_at) AS model, argMax(location, updated_at) AS location, "
    "argMax(criticality, updated_at) AS criticality, argMax(upstream, updated_at) AS upstream, "
    "argMax(services, updated_at) AS services, argMax(host_aliases, updated_at) AS host_aliases, "
    "argMax(mgmt_ip, updated_at) AS mgmt_ip FROM aiops.devices GROUP BY ship_id, device_id"
)

