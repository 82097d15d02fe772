"""The chaos run's input: a seeded stream of log lines with labelled injected faults.

Each fault is one device sending lines that a detect.yaml pattern types, and no two faults can
correlate into one incident (docs/CORRELATION.md): each has its own root device and fingerprint,
none is a downstream symptom of another (no network/link fault sits behind another's device),
and their lines are spread across the whole stream, so every fault spans every crash. The
background is info-level chatter no detector reports, so the expected incidents are exactly the
faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

SHIP_ID = "ms-aurora"


@dataclass(frozen=True)
class FaultSpec:
    name: str
    device_id: str
    service: str
    level: str
    incident_type: str
    # Formatted with {n} (the line's number in the fault) so lines differ but share a template.
    message: str


# Root devices are pairwise unrelated for correlation: the only link fault (the modem) has
# network devices behind it, so no network_issue fault is injected; the others are of types that
# never join an upstream incident (auth, security, resource, hardware, config) or an app fault
# whose text does not read like lost connectivity.
FAULTS: tuple[FaultSpec, ...] = (
    FaultSpec("vsat-carrier-lost", "vsat-modem-01", "modem", "error", "link_degradation",
              "RX carrier lost on demodulator 1, Es/No 0.{n} dB"),
    FaultSpec("ssh-brute-force", "crew-portal-01", "sshd", "warning", "auth_failure",
              "Failed password for invalid user admin{n} from 203.0.113.7 port 5{n:04d} ssh2"),
    FaultSpec("reservations-disk-full", "res-db-01", "postgres", "error", "resource_pressure",
              "could not write to file base/16384/{n}: No space left on device"),
    FaultSpec("firewall-sessions-full", "fw-02", "fortigate", "error", "resource_pressure",
              "session table full, dropping new session {n} from 10.20.0.{n}"),
    FaultSpec("guest-portal-ips", "guest-portal-01", "ips", "warning", "security_alert",
              "IPS alert: attack detected from 198.51.100.{n} signature {n}"),
    FaultSpec("pos-certificate-expired", "pos-gw-01", "pos", "error", "app_degradation",
              "TLS certificate for acquirer endpoint {n} has expired"),
    FaultSpec("switch-psu-failed", "acc-sw-04", "envmon", "error", "power_or_hardware",
              "Power supply 2 failed, unit {n} running on one PSU"),
    FaultSpec("res-app-oom", "res-app-01", "kernel", "error", "resource_pressure",
              "Out of memory: Killed process 4{n:03d} (java)"),
)

# Background devices and texts: nothing here matches a detect.yaml pattern, and info-level lines
# are never reported by the severity or new-template detectors.
_BACKGROUND_DEVICES = ("core-rtr-01", "acc-sw-01", "acc-sw-02", "wlc-01", "dns-01", "dhcp-01")
_BACKGROUND_TEXTS = (
    "heartbeat ok seq={n}",
    "DHCPACK on 10.1.{a}.{b} to 02:00:00:00:{a:02x}:{b:02x} via vlan 30",
    "user crew{n} session opened from 10.2.{a}.{b}",
    "query for www{n}.example.com answered from cache",
    "{n} clients associated on ssid CREW-WIFI",
)


@dataclass(frozen=True)
class ChaosEvent:
    index: int
    item: dict[str, Any]
    fault: str | None = None


def build_stream(size: int = 1000, *, lines_per_fault: int = 8, seed: int = 7) -> list[ChaosEvent]:
    """`size` events: every fault's lines spread evenly over the stream, background elsewhere."""
    fault_lines = lines_per_fault * len(FAULTS)
    if size < 2 * fault_lines:
        raise ValueError(f"a stream of {size} events is too short for {fault_lines} fault lines")
    rng = random.Random(seed)
    slots: dict[int, tuple[FaultSpec, int]] = {}
    stride = size / fault_lines
    for k in range(fault_lines):
        spec = FAULTS[k % len(FAULTS)]
        slots[int(k * stride) + rng.randrange(max(1, int(stride)))] = (spec, k // len(FAULTS))
    events = []
    for index in range(size):
        if index in slots:
            spec, n = slots[index]
            item = {"ship_id": SHIP_ID, "device_id": spec.device_id, "service": spec.service,
                    "level": spec.level, "message": spec.message.format(n=n + 1)}
            events.append(ChaosEvent(index, item, spec.name))
        else:
            text = rng.choice(_BACKGROUND_TEXTS).format(n=index, a=rng.randrange(256), b=rng.randrange(256))
            item = {"ship_id": SHIP_ID, "device_id": rng.choice(_BACKGROUND_DEVICES), "service": "daemon",
                    "level": "info", "message": text}
            events.append(ChaosEvent(index, item))
    return events
