"""Faults on the servers and their applications: a full disk, an SSH brute force, a POS outage."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime

from .. import vendors
from ..emit import Line, app, linux
from ..inventory import Inventory
from ..timeline import poisson, seconds, ticks
from .base import Effect, FaultPlan, Window, ramp

__all__ = ["disk_full", "pos_outage", "ssh_brute_force"]

ENOSPC = "No space left on device"
TERMINALS = ("pos-term-01", "pos-term-02", "pos-term-03", "pos-term-04")
# Address blocks that brute-force traffic on the internet really comes from (hosting, VPN exits).
_ATTACKER_PREFIXES = ("185.220.101", "45.146.164", "141.98.11", "193.32.162")


def disk_full(inv: Inventory, rng: random.Random, window: Window) -> FaultPlan:
    """WAL archiving to shore stalls and the reservations database's disk fills up."""
    db, api = inv["res-db-01"], inv["res-app-01"]
    relation = "base/16384/24576"
    lines: list[Line] = []

    def postgres(at: datetime, text: str) -> Line:
        return linux(db, at, "postgres", 1520, 3, text, facility=vendors.LOCAL0)

    # Writes fail once the disk is all but full, about halfway through the window.
    for entry, at in enumerate(poisson(rng, window.at(0.47), window.at(0.9), 0.1), start=400):
        lines += [
            postgres(at, f'[{entry}-1] ERROR:  could not extend file "{relation}": {ENOSPC}'),
            postgres(at + seconds(0.001), f"[{entry}-2] HINT:  Check free disk space."),
        ]
    for at in poisson(rng, window.at(0.47), window.at(0.9), 0.12):
        path = "/api/v2/dining/reservations"
        sd = {"req@32473": {"method": "POST", "path": path, "status": 500}}
        text = (
            f'POST {path} 500: database write failed: could not extend file "{relation}": {ENOSPC}'
        )
        lines.append(app(api, at, "resapi", 3, text, msgid="REQ", procid=2210, structured=sd))

    def disk(f: float, v: float) -> float:
        full = 99.3 + 0.4 * math.sin(f * 17)
        return round(v + (full - v) * ramp(f, rise=0.45, hold_until=0.9, fall=0.93), 2)

    mutes = frozenset({("res-db-01", "pg_checkpoint")})
    return FaultPlan(lines, Effect(window, {("res-db-01", "disk_pct"): disk}, mutes))


def ssh_brute_force(inv: Inventory, rng: random.Random, window: Window) -> FaultPlan:
    """A host on the internet guesses passwords on the crew portal's vendor-support SSH port."""
    server = inv["crew-portal-01"]
    attacker = f"{rng.choice(_ATTACKER_PREFIXES)}.{rng.randrange(2, 254)}"
    users = (
        "admin",
        "oracle",
        "test",
        "ubuntu",
        "postgres",
        "user",
        "git",
        "support",
        "ftpuser",
        "pi",
    )
    pid = rng.randrange(200_000, 300_000)
    lines: list[Line] = []
    for at in poisson(rng, window.start, window.end - seconds(3), 0.6):
        pid += rng.randrange(1, 30)
        port = rng.randrange(30000, 65000)
        if rng.random() < 0.3:
            steps = [(0.0, 6, f"Failed password for root from {attacker} port {port} ssh2")]
            if rng.random() < 0.3:
                steps.append(
                    (
                        1.1,
                        3,
                        "error: maximum authentication attempts exceeded for root from "
                        f"{attacker} port {port} ssh2 [preauth]",
                    )
                )
            steps.append(
                (
                    1.2,
                    6,
                    f"Connection closed by authenticating user root {attacker} port {port} "
                    "[preauth]",
                )
            )
        else:
            user = rng.choice(users)
            steps = [
                (0.0, 6, f"Invalid user {user} from {attacker} port {port}"),
                (0.3, 6, "pam_unix(sshd:auth): check pass; user unknown"),
                (
                    0.31,
                    5,
                    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
                    f"ruser= rhost={attacker}",
                ),
                (
                    2.1,
                    6,
                    f"Failed password for invalid user {user} from {attacker} port {port} ssh2",
                ),
                (
                    2.5,
                    6,
                    f"Connection closed by invalid user {user} {attacker} port {port} [preauth]",
                ),
            ]
        for offset, severity, text in steps:
            lines.append(
                linux(
                    server, at + seconds(offset), "sshd", pid, severity, text, facility=vendors.AUTH
                )
            )
    return FaultPlan(lines, Effect(window))


def pos_outage(inv: Inventory, rng: random.Random, window: Window) -> FaultPlan:
    """The payment gateway's worker pool wedges: every terminal falls back to offline mode."""
    gateway = inv["pos-gw-01"]
    lines = [
        app(
            gateway,
            window.at(0),
            "caps",
            4,
            "worker pool exhausted: 200/200 threads busy, 57 requests queued",
            msgid="SVC",
            procid=4411,
        ),
        app(
            gateway,
            window.at(0.05),
            "caps",
            3,
            "payment service not responding: health check failed 3/3",
            msgid="SVC",
            procid=4411,
        ),
        app(
            gateway,
            window.at(0.9),
            "caps",
            5,
            "payment service restarted by watchdog, worker pool 12/200",
            msgid="SVC",
            procid=4411,
        ),
    ]
    for at in poisson(rng, window.at(0.05), window.at(0.88), 1 / 15):
        sd = {"txn@32473": {"result": "unavailable", "queued": rng.randrange(20, 140)}}
        lines.append(
            app(
                gateway,
                at,
                "caps",
                3,
                "payment gateway unavailable: authorisation request rejected, worker pool "
                "exhausted",
                msgid="TXN",
                procid=4411,
                structured=sd,
            )
        )
    for terminal_id in TERMINALS:
        terminal = inv[terminal_id]
        offline, online = window.at(rng.uniform(0.08, 0.2)), window.at(rng.uniform(0.92, 0.97))
        sd = {"term@32473": {"terminal": terminal_id, "state": "offline"}}
        lines.append(
            app(
                gateway,
                offline,
                "caps",
                3,
                f"POS terminal {terminal_id} offline: heartbeat missed 3 times",
                msgid="TERM",
                procid=4411,
                structured=sd,
            )
        )
        lines.append(
            app(
                terminal,
                offline + seconds(2),
                "posclient",
                3,
                "payment gateway pos-gw-01 unavailable, switching to offline mode "
                "(store-and-forward)",
                msgid="PAY",
                procid=812,
            )
        )
        stored = 0
        for at in ticks(offline + seconds(60), online, 60):
            stored += rng.randrange(1, 6)
            lines.append(
                app(
                    terminal,
                    at,
                    "posclient",
                    4,
                    f"offline mode: {stored} transactions stored locally, payment gateway "
                    "pos-gw-01 unavailable",
                    msgid="PAY",
                    procid=812,
                )
            )
        lines.append(
            app(
                terminal,
                online,
                "posclient",
                5,
                f"payment gateway pos-gw-01 reachable, leaving offline mode, forwarded {stored} "
                "stored transactions",
                msgid="PAY",
                procid=812,
            )
        )
        lines.append(
            app(
                gateway,
                online + seconds(1),
                "caps",
                6,
                f"POS terminal {terminal_id} back online",
                msgid="TERM",
                procid=4411,
            )
        )

    def towards(target: float) -> Callable[[float, float], float]:
        def rule(f: float, v: float) -> float:
            return round(v + (target - v) * ramp(f, rise=0.05, hold_until=0.88, fall=0.92), 2)

        return rule

    metrics = {("pos-gw-01", "cpu_pct"): towards(96), ("pos-gw-01", "mem_pct"): towards(95)}
    return FaultPlan(lines, Effect(window, metrics, frozenset({("pos-gw-01", "pos_txn")})))
