"""The ship's device registry: YAML in, frozen and validated dataclasses out.

A bad registry fails at load with the file and the device that is wrong: a dangling or cyclic
`upstream` edge would otherwise surface much later as a nonsensical root cause.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from aiops_core.devices import Device as RegistryDevice

__all__ = [
    "CRITICALITIES",
    "DEMO_INVENTORY_PATH",
    "DEVICE_KINDS",
    "Device",
    "Inventory",
    "InventoryError",
    "load_inventory",
    "parse_inventory",
]

DEMO_INVENTORY_PATH = Path(__file__).resolve().parents[2] / "inventory" / "demo-ship.yaml"

# docs/CONVENTIONS.md, "Device kinds" and "Severity".
DEVICE_KINDS = frozenset(
    {
        "core_router",
        "access_switch",
        "firewall",
        "wlc",
        "access_point",
        "vsat_modem",
        "antenna_controller",
        "starlink_terminal",
        "lte_router",
        "server",
        "dhcp_server",
        "dns_server",
        "pos",
        "reservations",
        "app_server",
    }
)
CRITICALITIES = ("low", "medium", "high", "critical")
_IDENTIFIER = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_REQUIRED = ("device_id", "kind")
# A registry written by hand often knows a device's role before its make or address; these
# describe the device and default rather than block the node from starting.
_OPTIONAL_TEXT = ("vendor", "model", "location", "mgmt_ip")
DEFAULT_CRITICALITY = "medium"


class InventoryError(ValueError):
    """The registry is malformed; the message names the source and the offending device."""


@dataclass(frozen=True)
class Device:
    device_id: str
    kind: str
    vendor: str
    model: str
    location: str
    criticality: str
    mgmt_ip: str
    upstream: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    host_aliases: tuple[str, ...] = ()
    serial: str = ""

    @property
    def hostname(self) -> str:
        """The name the device puts in its own syslog header (its first alias)."""
        return self.host_aliases[0] if self.host_aliases else self.device_id


@dataclass(frozen=True)
class Inventory:
    ship_id: str
    devices: tuple[Device, ...]
    by_id: Mapping[str, Device] = field(init=False, repr=False, compare=False)
    by_host_alias: Mapping[str, Device] = field(init=False, repr=False, compare=False)
    by_mgmt_ip: Mapping[str, Device] = field(init=False, repr=False, compare=False)
    _dependents: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Keys of by_host_alias are lower-case: syslog hostnames are case-insensitive.
        aliases = {a.lower(): d for d in self.devices for a in (d.device_id, *d.host_aliases)}
        object.__setattr__(self, "by_id", MappingProxyType({d.device_id: d for d in self.devices}))
        object.__setattr__(self, "by_host_alias", MappingProxyType(aliases))
        object.__setattr__(
            self, "by_mgmt_ip", MappingProxyType({d.mgmt_ip: d for d in self.devices})
        )
        dependents: dict[str, list[str]] = {}
        for device in self.devices:
            for parent in device.upstream:
                dependents.setdefault(parent, []).append(device.device_id)
        object.__setattr__(
            self, "_dependents", MappingProxyType({k: tuple(v) for k, v in dependents.items()})
        )

    def __getitem__(self, device_id: str) -> Device:
        return self.by_id[device_id]

    def __contains__(self, device_id: object) -> bool:
        return device_id in self.by_id

    def resolve_host(self, hostname: str) -> Device | None:
        """The device a syslog hostname (any alias, any case) belongs to, if known."""
        return self.by_host_alias.get(hostname.lower())

    def upstream_of(self, device_id: str) -> tuple[Device, ...]:
        """Every device on which `device_id` depends, directly or transitively, nearest first."""
        return self._walk(device_id, lambda d: self.by_id[d].upstream)

    def downstream_of(self, device_id: str) -> tuple[Device, ...]:
        """Every device that depends on `device_id`, directly or transitively, nearest first."""
        return self._walk(device_id, lambda d: self._dependents.get(d, ()))

    def _walk(
        self, device_id: str, neighbours: Callable[[str], Iterable[str]]
    ) -> tuple[Device, ...]:
        if device_id not in self.by_id:
            raise KeyError(f"unknown device {device_id!r}")
        seen = {device_id}
        order: list[str] = []
        frontier = [device_id]
        while frontier:
            following: list[str] = []
            for current in frontier:
                for neighbour in neighbours(current):
                    if neighbour not in seen:
                        seen.add(neighbour)
                        order.append(neighbour)
                        following.append(neighbour)
            frontier = following
        return tuple(self.by_id[d] for d in order)


def load_inventory(path: str | Path = DEMO_INVENTORY_PATH) -> Inventory:
    """Read and validate a registry file (the demo ship's by default)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InventoryError(f"{path}: cannot read inventory: {exc}") from exc
    return parse_inventory(data, source=str(path))


def parse_inventory(data: Any, *, source: str = "<inventory>") -> Inventory:
    """Validate an already-parsed registry mapping and build the Inventory."""
    if not isinstance(data, Mapping):
        raise InventoryError(f"{source}: top level must be a mapping with ship_id and devices")
    ship_id = data.get("ship_id")
    if not isinstance(ship_id, str) or not _IDENTIFIER.match(ship_id):
        raise InventoryError(f"{source}: ship_id {ship_id!r} is not a valid identifier")
    raw_devices = data.get("devices")
    if not isinstance(raw_devices, list) or not raw_devices:
        raise InventoryError(f"{source}: devices must be a non-empty list")

    devices = tuple(_device(raw, source, index) for index, raw in enumerate(raw_devices))
    _check_unique(devices, source)
    _check_upstream(devices, source)
    return Inventory(ship_id=ship_id, devices=devices)


def _device(raw: Any, source: str, index: int) -> Device:
    where = f"{source}: devices[{index}]"
    if not isinstance(raw, Mapping):
        raise InventoryError(f"{where}: must be a mapping")
    if isinstance(raw.get("device_id"), str):
        where = f"{source}: device {raw['device_id']!r}"
    known = {*_REQUIRED, *_OPTIONAL_TEXT, "criticality", "upstream", "services", "host_aliases", "serial"}
    unknown = set(raw) - known
    if unknown:
        raise InventoryError(f"{where}: unknown field(s) {sorted(unknown)}")
    for name in _REQUIRED:
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise InventoryError(f"{where}: field {name!r} must be a non-empty string")
    for name in _OPTIONAL_TEXT:
        if not isinstance(raw.get(name, ""), str):
            raise InventoryError(f"{where}: field {name!r} must be a string")
    if not _IDENTIFIER.match(raw["device_id"]):
        raise InventoryError(f"{where}: device_id is not a lowercase identifier")
    if raw["kind"] not in DEVICE_KINDS:
        raise InventoryError(f"{where}: kind {raw['kind']!r} is not one of {sorted(DEVICE_KINDS)}")
    criticality = raw.get("criticality", DEFAULT_CRITICALITY)
    if criticality not in CRITICALITIES:
        raise InventoryError(f"{where}: criticality {criticality!r} not in {CRITICALITIES}")
    mgmt_ip = raw.get("mgmt_ip", "").strip()
    if mgmt_ip:
        try:
            ipaddress.ip_address(mgmt_ip)
        except ValueError:
            raise InventoryError(f"{where}: mgmt_ip {mgmt_ip!r} is not an IP address") from None
    return Device(
        device_id=raw["device_id"],
        kind=raw["kind"],
        vendor=raw.get("vendor", "").strip(),
        model=raw.get("model", "").strip(),
        location=raw.get("location", "").strip(),
        criticality=criticality,
        mgmt_ip=mgmt_ip,
        upstream=_strings(raw, "upstream", where),
        services=_strings(raw, "services", where),
        host_aliases=_strings(raw, "host_aliases", where),
        serial=str(raw.get("serial", "")),
    )


def _strings(raw: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = raw.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InventoryError(f"{where}: {name} must be a list of non-empty strings")
    return tuple(value)


def _check_unique(devices: Iterable[Device], source: str) -> None:
    ids: set[str] = set()
    owner_of_alias: dict[str, str] = {}
    owner_of_ip: dict[str, str] = {}
    for device in devices:
        if device.device_id in ids:
            raise InventoryError(f"{source}: device_id {device.device_id!r} appears twice")
        ids.add(device.device_id)
        for alias in {a.lower() for a in (device.device_id, *device.host_aliases)}:
            other = owner_of_alias.setdefault(alias, device.device_id)
            if other != device.device_id:
                raise InventoryError(
                    f"{source}: host alias {alias!r} of {device.device_id!r} already names "
                    f"{other!r}"
                )
        other = owner_of_ip.setdefault(device.mgmt_ip, device.device_id) if device.mgmt_ip else device.device_id
        if other != device.device_id:
            raise InventoryError(
                f"{source}: mgmt_ip {device.mgmt_ip} of {device.device_id!r} is also {other!r}'s"
            )


def _check_upstream(devices: tuple[Device, ...], source: str) -> None:
    by_id = {d.device_id: d for d in devices}
    for device in devices:
        for parent in device.upstream:
            if parent not in by_id:
                raise InventoryError(
                    f"{source}: device {device.device_id!r} has unknown upstream {parent!r}"
                )
            if parent == device.device_id:
                raise InventoryError(f"{source}: device {device.device_id!r} is its own upstream")

    # Depth-first search with three colours; the grey path is the cycle to report.
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(device_id: str) -> None:
        state[device_id] = "grey"
        path.append(device_id)
        for parent in by_id[device_id].upstream:
            if state.get(parent) == "grey":
                cycle = [*path[path.index(parent) :], parent]
                raise InventoryError(f"{source}: upstream cycle: {' -> '.join(cycle)}")
            if parent not in state:
                visit(parent)
        path.pop()
        state[device_id] = "black"

    for device in devices:
        if device.device_id not in state:
            visit(device.device_id)


def registry_devices(inventory: Inventory) -> list[RegistryDevice]:
    """The inventory as the platform's device registry rows (the node seeds its `devices` table)."""
    return [
        RegistryDevice(
            ship_id=inventory.ship_id, device_id=d.device_id, kind=d.kind, vendor=d.vendor, model=d.model,
            location=d.location, criticality=d.criticality, upstream=d.upstream, services=d.services,
            host_aliases=d.host_aliases, mgmt_ip=d.mgmt_ip,
        )
        for d in inventory.devices
    ]
