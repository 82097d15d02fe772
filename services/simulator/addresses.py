"""Made-up but well-formed addresses for the simulated traffic (MACs, guest IPs, shore hosts)."""

from __future__ import annotations

import random

__all__ = [
    "ADMINS",
    "ADMIN_WORKSTATIONS",
    "CREW_GATEWAY",
    "GUEST_GATEWAY",
    "cisco_mac",
    "crew_ip",
    "guest_ip",
    "mac",
    "public_ip",
]

# The ship's IT team and its automation; admins log in from the IT office's jump hosts.
ADMINS = ("a.rossi", "m.delacruz", "it.officer", "j.okafor")
ADMIN_WORKSTATIONS = ("10.10.0.50", "10.10.0.51", "10.10.0.52")
GUEST_GATEWAY = "10.20.0.1"  # guest Wi-Fi VLAN, 10.20.0.0/20
CREW_GATEWAY = "10.30.0.1"  # crew Wi-Fi VLAN, 10.30.0.0/22

# Prefixes of big content and cloud networks that guest traffic really goes to.
_CONTENT_PREFIXES = (
    "142.250",
    "157.240",
    "17.253",
    "104.16",
    "151.101",
    "52.94",
    "13.107",
    "31.13",
)

# Organisationally unique identifiers of common phone and laptop makers.
_OUIS = (
    "3c:22:fb",
    "f0:18:98",
    "a4:83:e7",
    "dc:a6:32",
    "8c:85:90",
    "ac:bc:32",
    "b8:27:eb",
    "f4:5c:89",
)


def mac(rng: random.Random) -> str:
    tail = ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
    return f"{rng.choice(_OUIS)}:{tail}"


def cisco_mac(rng: random.Random) -> str:
    """A MAC in Cisco's dotted notation (b8ae.ed12.3456), as IOS prints it."""
    digits = mac(rng).replace(":", "")
    return ".".join(digits[i : i + 4] for i in range(0, 12, 4))


def guest_ip(rng: random.Random) -> str:
    return f"10.20.{rng.randrange(0, 16)}.{rng.randrange(2, 255)}"


def crew_ip(rng: random.Random) -> str:
    return f"10.30.{rng.randrange(0, 4)}.{rng.randrange(2, 255)}"


def public_ip(rng: random.Random) -> str:
    return f"{rng.choice(_CONTENT_PREFIXES)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
