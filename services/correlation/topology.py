"""The device dependency graph as correlation reads it: who is upstream of whom, within the
policy's hop limit, cached because every anomaly asks and the registry changes rarely."""

from __future__ import annotations

from aiops_core.devices import DeviceRegistry


class Topology:
    def __init__(self, registry: DeviceRegistry, max_hops: int) -> None:
        self.registry = registry
        self.max_hops = max_hops
        self._paths: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {}

    def replace(self, registry: DeviceRegistry) -> None:
        """Swaps in a freshly loaded registry and forgets every cached path."""
        self.registry = registry
        self._paths.clear()

    def _paths_from(self, ship_id: str, device_id: str) -> dict[str, tuple[str, ...]]:
        """Every upstream device within max_hops mapped to the path to it (device first),
        breadth-first so the nearest path wins; insertion order is nearest first."""
        key = (ship_id, device_id)
        cached = self._paths.get(key)
        if cached is not None:
            return cached
        paths: dict[str, tuple[str, ...]] = {}
        frontier = [(device_id,)]
        seen = {device_id}
        for _ in range(self.max_hops):
            next_frontier = []
            for path in frontier:
                device = self.registry.get(ship_id, path[-1])
                for parent in device.upstream if device else ():
                    if parent not in seen:
                        seen.add(parent)
                        paths[parent] = (*path, parent)
                        next_frontier.append((*path, parent))
            if not next_frontier:
                break
            frontier = next_frontier
        self._paths[key] = paths
        return paths

    def upstream(self, ship_id: str, device_id: str) -> list[str]:
        """Upstream devices within max_hops, farthest first (the most upstream explains most)."""
        return list(reversed(self._paths_from(ship_id, device_id)))

    def is_upstream(self, ship_id: str, ancestor: str, device_id: str) -> bool:
        return ancestor in self._paths_from(ship_id, device_id)

    def path(self, ship_id: str, device_id: str, ancestor: str) -> tuple[str, ...]:
        """The dependency path from the device up to the ancestor, both included."""
        return self._paths_from(ship_id, device_id).get(ancestor, (device_id,))

    def kind_of(self, ship_id: str, device_id: str) -> str | None:
        device = self.registry.get(ship_id, device_id)
        return device.kind if device else None
