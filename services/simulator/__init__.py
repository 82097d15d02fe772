"""Ship simulator: the demo ship's inventory and seeded, labelled fault scenarios.

Pure logic, no network I/O: `build_scenario(...)` returns a Scenario whose `events()` are the
syslog datagrams and metric samples the ship's devices would send, in time order, each tagged
with the fault (if any) behind it; `Scenario.faults` is the ground truth to score against.
"""

from .faults import FAULTS, Fault
from .inventory import (
    DEMO_INVENTORY_PATH,
    Device,
    Inventory,
    InventoryError,
    load_inventory,
    parse_inventory,
)
from .scenario import SCENARIOS, Scenario, SimEvent, build_scenario

__all__ = [
    "DEMO_INVENTORY_PATH",
    "FAULTS",
    "SCENARIOS",
    "Device",
    "Fault",
    "Inventory",
    "InventoryError",
    "Scenario",
    "SimEvent",
    "build_scenario",
    "load_inventory",
    "parse_inventory",
]
