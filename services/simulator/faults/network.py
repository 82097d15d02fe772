"""Faults in the ship's own network services: a flapping port, a full firewall session table,
an exhausted DHCP pool, a DNS server that stops resolving."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime

from .. import addresses as addr
from ..emit import Line, cisco_port, forti, linux
from ..inventory import Inventory
from ..timeline import poisson, seconds, ticks
from .base import Effect, FaultPlan, Window, ramp

__all__ = ["dhcp_exhaustion", "dns_failure", "firewall_session_exhaustion", "interface_flapping"]

SESSION_LIMIT = 500_000  # the guest VDOM's session quota on the FortiGate


def interface_flapping(inv: Inventory, rng: random.Random, window: Window) -> FaultPlan:
    """A failing cable to cabin block 7A: the port goes down and up every 20-40 seconds."""
    switch, port = inv["acc-sw-03"], "GigabitEthernet1/0/17"
    lines: list[Line] = []
    at = window.start
    while at < window.end - seconds(8):
        lines += cisco_port(switch, at, port, "down")
        lines += cisco_port(switch, at + seconds(rng.uniform(2, 6)), port, "up")
        at += seconds(rng.uniform(20, 40))

    def crc_errors(f: float, v: float) -> float:
        return float(round(v + 150 + 200 * abs(math.sin(f * 23))))

    return FaultPlan(lines, Effect(window, {("acc-sw-03", "if_errors"): crc_errors}))


def firewall_session_exhaustion(inv: Inventory, rng: random.Random, window: Window) -> FaultPlan:
    """A guest device opens sessions by the hundred thousand: the firewall enters conserve mode."""
    fw = inv["fw-01"]
    culprit = addr.guest_ip(rng)

    def event(at: datetime, logid: str, severity: int, msg: str, **fields: object) -> Line:
        return forti(fw, at, logid, "event", "system", severity, msg, fields)

    used = int(SESSION_LIMIT * 0.91)
    lines = [
        event(
            window.at(0.2),
            "0100020010",
            4,
            f"Session table usage above 90% ({used} of {SESSION_LIMIT}), top source {culprit}",
            logdesc="Session table usage high",
        ),
        event(
            window.at(0.3),
            "0100022011",
            2,
            "Kernel enters memory conserve mode",
            logdesc="Memory conserve mode",
            conserve="on",
            used="89%",
        ),
        event(
            window.at(0.84),
            "0100022011",
            5,
            "Kernel leaves memory conserve mode",
            logdesc="Memory conserve mode",
            conserve="exit",
            used="71%",
        ),
        event(
            window.at(0.9),
            "0100020010",
            6,
            f"Session table usage back to 61% after source {culprit} was quarantined",
            logdesc="Session table usage normal",
        ),
    ]
    for at in poisson(rng, window.at(0.31), window.at(0.82), 0.25):
        dropped = f"{addr.guest_ip(rng)} -> {addr.public_ip(rng)}:443"
        msg = f"Session table is full, new session dropped: {dropped}"
        lines.append(event(at, "0100020011", 3, msg, logdesc="Session table full"))
    for at in ticks(window.at(0.3), window.at(0.82), 60, 5):
        sessions = SESSION_LIMIT - rng.randrange(200, 6000)
        cpu, mem, rate = rng.randrange(84, 93), rng.randrange(88, 91), rng.randrange(900, 2400)
        msg = (
            f"Performance statistics: average CPU: {cpu}, memory: {mem}, "
            f"concurrent sessions: {sessions}, setup-rate: {rate}"
        )
        fields = {"logdesc": "System performance statistics", "action": "perf-stats"}
        lines.append(event(at, "0100040704", 5, msg, **fields))

    def towards(target: float, wobble: float = 0.0) -> Callable[[float, float], float]:
        def rule(f: float, v: float) -> float:
            level = ramp(f, rise=0.3, hold_until=0.82, fall=0.97)
            return round(min(100.0, v + (target + wobble * math.sin(f * 31) - v) * level), 2)

        return rule

    metrics = {
        ("fw-01", "fw_sessions_pct"): towards(98.6, 1.2),
        ("fw-01", "cpu_pct"): towards(88, 3),
        ("fw-01", "mem_pct"): towards(89, 1),
    }
    return FaultPlan(lines, Effect(window, metrics, frozenset({("fw-01", "fw_perf")})))


def dhcp_exhaustion(inv: Inventory, rng: random.Random, window: Window) -> FaultPlan:
    """Embarkation day: the guest pool (a /20 with 24-hour leases) runs out of addresses."""
    server, pid = inv["dhcp-01"], 1184
    lines = [
        linux(
            server,
            window.at(0.22),
            "dhcpd",
            pid,
            4,
            "Pool threshold exceeded - shared subnet: guest-wifi; address: 10.20.0.10; high "
            "threshold 90% 3685/4094.",
        ),
        linux(
            server,
            window.at(0.9),
            "dhcpd",
            pid,
            6,
            "Pool threshold reset - shared subnet: guest-wifi; address: 10.20.0.10; low "
            "threshold 80% 3271/4094.",
        ),
    ]
    for at in poisson(rng, window.at(0.3), window.at(0.88), 0.6):
        text = (
            f"DHCPDISCOVER from {addr.mac(rng)} via {addr.GUEST_GATEWAY}: network 10.20.0.0/20: "
            "no free leases"
        )
        lines.append(linux(server, at, "dhcpd", pid, 3, text))

    def pool(f: float, v: float) -> float:
        return round(v + (100.0 - v) * ramp(f, rise=0.3, hold_until=0.88), 2)

    return FaultPlan(
        lines,
        Effect(window, {("dhcp-01", "dhcp_pool_pct"): pool}, frozenset({("dhcp-01", "dhcp")})),
    )


def dns_failure(inv: Inventory, rng: random.Random, window: Window) -> FaultPlan:
    """named on dns-01 wedges with its recursive-client quota full: SERVFAIL for every lookup
    while both satellite links are healthy, until an admin restarts it."""
    server, pid = inv["dns-01"], 812
    names = (
        "www.instagram.com",
        "api.whatsapp.net",
        "graph.facebook.com",
        "www.google.com",
        "shore.aurora-cruises.example",
        "mail.aurora-cruises.example",
        "time.apple.com",
    )
    lines = [
        linux(
            server,
            window.at(0.1),
            "named",
            pid,
            4,
            "managed-keys-zone: Unable to fetch DNSKEY set '.': timed out",
        )
    ]
    for at in poisson(rng, window.at(0.12), window.at(0.85), 1.2):
        name, client = rng.choice(names), f"{addr.guest_ip(rng)}#{rng.randrange(1024, 65535)}"
        handle = f"@0x7f3a{rng.randrange(16**8):08x}"
        roll = rng.random()
        if roll < 0.6:
            text = (
                f"client {handle} {client} ({name}): query failed (SERVFAIL) for {name}/IN/A at "
                "query.c:7375"
            )
        elif roll < 0.85:
            text = (
                f"client {handle} {client} ({name}): no more recursive clients (1000/900/1000): "
                "quota reached"
            )
        else:
            text = f"timed out resolving '{name}/A/IN': 10.10.0.1#53"
        lines.append(linux(server, at, "named", pid, 4 if roll >= 0.6 else 6, text))
    restarted = window.at(0.88)
    lines += [
        linux(
            server,
            restarted,
            "named",
            4410,
            6,
            "starting BIND 9.18.18-0ubuntu0.22.04.2-Ubuntu (Extended Support Version)",
        ),
        linux(server, restarted + seconds(2), "named", 4410, 6, "all zones loaded"),
        linux(server, restarted + seconds(2.1), "named", 4410, 6, "running"),
    ]

    def failures(f: float, v: float) -> float:
        level = ramp(f, rise=0.15, hold_until=0.85, fall=0.95)
        return round(min(100.0, v + (55 + 8 * math.sin(f * 29)) * level), 3)

    return FaultPlan(lines, Effect(window, {("dns-01", "dns_fail_pct"): failures}))
