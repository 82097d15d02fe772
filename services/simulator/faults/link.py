"""Satellite-link faults: rain fade, antenna blockage, modem reboot.

They share one physical model: a loss of signal (dB below the clear-sky SNR) drives the modem's
readings, its ACM and lock state, and the symptoms downstream, where card payments time out
because they are pinned to the VSAT path (fixed public IP, the acquirer's allow-list).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime

from ..emit import Line, app, cisco, cisco_port, forti, modem
from ..inventory import Inventory
from ..timeline import poisson, seconds, ticks
from .base import Effect, FaultPlan, MetricRule, Window, ramp

__all__ = ["antenna_blockage", "modem_reboot", "rain_fade"]

CLEAR_SKY_SNR = 12.0
UNLOCK_SNR, RELOCK_SNR = 4.5, 5.0  # the demodulator drops lock below, regains it above
DEGRADED_SNR = 7.0
ACQUIRER_IP = "198.51.100.20"
# The lowest Es/No (dB) at which each MODCOD still decodes, most efficient first.
_MODCODS = (
    (9.5, "8PSK 5/6"),
    (7.0, "8PSK 2/3"),
    (5.0, "QPSK 3/4"),
    (3.0, "QPSK 1/2"),
    (-99.0, "QPSK 1/4"),
)
_MODCOD_NAMES = [name for _, name in _MODCODS]

Depth = Callable[[float], float]  # fraction of window -> dB lost


def rain_fade(inv: Inventory, rng: random.Random, window: Window) -> FaultPlan:
    """Heavy rain: SNR sinks over minutes, the carrier drops at the worst, then recovers."""
    worst = rng.uniform(8.0, 8.6)

    def depth(f: float) -> float:
        # Rain cells pass unevenly: a wobble rides on the fade while it is deep.
        wobble = 0.3 * math.sin(f * 40) * ramp(f, rise=0.3, hold_until=0.7)
        return worst * ramp(f, rise=0.45, hold_until=0.6) + wobble

    lines = _modem_lines(inv, rng, window, depth, rain=True)
    mutes = {("vsat-modem-01", "modem_status"), *_PATH_MUTES}
    return FaultPlan(lines, _link_effect(window, depth, mutes=mutes))


def antenna_blockage(inv: Inventory, rng: random.Random, window: Window) -> FaultPlan:
    """The ship turns, the funnel shadows the antenna: the ACU loses track, the link drops."""
    acu = inv["acu-01"]
    zone_az = rng.uniform(110, 130)  # relative bearing of the funnel from the radome

    def depth(f: float) -> float:
        return (10.0 + 0.4 * math.sin(f * 55)) * ramp(f, rise=0.02, hold_until=0.9, fall=0.94)

    def acu_line(at: datetime, severity: int, text: str) -> Line:
        return modem(acu, at, severity, text, program="acud", pid=210)

    blocked = window.at(0)
    lines = [
        acu_line(
            blocked, 4, f"[TRK] antenna entering blockage zone 2 (funnel aft) at Az={zone_az:.1f}"
        ),
        acu_line(blocked + seconds(8), 3, "[TRK] tracking lost: AGC=310 below threshold 900"),
    ]
    for at in ticks(blocked + seconds(40), window.at(0.88), 40):
        zone_az += rng.uniform(0.5, 2.5)
        agc = rng.randrange(250, 420)
        lines.append(
            acu_line(at, 4, f"[TRK] searching: Az={zone_az:.1f} AGC={agc} in blockage zone 2")
        )
    reacquired = f"Az={zone_az + 3:.1f} El=38.2 AGC=1790"
    lines.append(
        acu_line(
            window.at(0.9), 5, f"[TRK] left blockage zone 2, IS-37e reacquired at {reacquired}"
        )
    )
    lines += _modem_lines(inv, rng, window, depth, rain=False)
    mutes = {("vsat-modem-01", "modem_status"), ("acu-01", "*"), *_PATH_MUTES}
    return FaultPlan(lines, _link_effect(window, depth, mutes=mutes))


def modem_reboot(inv: Inventory, rng: random.Random, window: Window) -> FaultPlan:
    """The modem's watchdog reboots it: the VSAT link is gone for about three minutes."""
    vsat, core = inv["vsat-modem-01"], inv["core-rtr-01"]
    d = window.duration_s
    outage = max(0.5 * d, d - 45)  # reboot to cold start; the rest is re-acquisition
    s, booted = window.start, window.start + seconds(outage)
    after = d - outage

    def at_after(share: float) -> datetime:
        return booted + seconds(after * share)

    port = "GigabitEthernet0/0/1"  # the core router's port facing the modem

    esno = 10.6 + rng.uniform(-0.3, 0.3)
    lines = [
        modem(vsat, s, 2, "[SYS] falcon process not responding, watchdog reboot in 3 s"),
        modem(vsat, s + seconds(3), 2, "[SYS] system reboot initiated (reason: watchdog)"),
        *cisco_port(core, s + seconds(5), port, "down"),
        cisco(core, s + seconds(12), "TRACK", 6, "STATE", "10 ip sla 10 reachability Up -> Down"),
        # The modem's Ethernet comes back early in its boot, long before the satellite does.
        *cisco_port(core, booted - seconds(0.4 * outage), port, "up"),
        modem(vsat, booted, 4, f"[SYS] cold start: iDX 4.1.3.2 booted in {outage:.0f} s"),
        modem(vsat, at_after(0.1), 4, "[RX] carrier not locked, acquiring IS-37e"),
        modem(vsat, at_after(0.3), 5, f"[RX] RX lock acquired, Es/No={esno:.1f}dB C/N=11.8dB"),
        modem(vsat, at_after(0.5), 5, "[NET] in network: beam IS-37e, hub login accepted"),
        cisco(core, at_after(0.7), "TRACK", 6, "STATE", "10 ip sla 10 reachability Down -> Up"),
    ]
    outage_span = (s + seconds(10), at_after(0.75))
    lines += _vsat_path_symptoms(inv, rng, window, down=[outage_span], impaired=[outage_span])

    def link_down(f: float) -> bool:
        return f * d < outage + after * 0.3  # until the receiver locks again

    def unanswered(f: float, value: float) -> float | None:
        # The modem's own readings (SNR, BER, rate) cannot be polled while it boots.
        return None if link_down(f) else value

    def probes_lost(f: float, value: float) -> float:
        # The edge server's probes across the VSAT path keep running, and all go unanswered.
        return 100.0 if link_down(f) else value

    metrics: dict[tuple[str, str], MetricRule] = {
        ("vsat-modem-01", m): unanswered for m in _LINK_METRICS
    }
    metrics["vsat-modem-01", "packet_loss_pct"] = probes_lost
    mutes = frozenset({("vsat-modem-01", "*"), *_PATH_MUTES})
    return FaultPlan(lines, Effect(window, metrics, mutes))


# --- shared physics -------------------------------------------------------------------------

# "All is well" lines of the VSAT path's dependants would contradict their timeouts.
_PATH_MUTES = (("pos-gw-01", "pos_txn"), ("res-app-01", "resv_sync"))
_LINK_METRICS = ("snr_db", "esno_db", "ber", "latency_ms", "packet_loss_pct", "throughput_mbps")


def _loss_pct(snr: float) -> float:
    if snr < UNLOCK_SNR:
        return 100.0
    if snr < DEGRADED_SNR:
        return 3 + (DEGRADED_SNR - snr) * 8
    return max(0.0, (9 - snr) * 1.5)


def _link_effect(window: Window, depth: Depth, *, mutes: set[tuple[str, str]]) -> Effect:
    def snr_at(f: float) -> float:
        return CLEAR_SKY_SNR - depth(f)

    def snr(f: float, v: float) -> float:
        return round(v - depth(f), 2)

    def ber(f: float, v: float) -> float:
        return float(f"{min(1e-3, v * 10 ** (0.5 * max(0.0, depth(f)))):.3g}")

    def loss(f: float, v: float) -> float:
        return round(min(100.0, v + _loss_pct(snr_at(f))), 3)

    def throughput(f: float, v: float) -> float:
        # ACM steps down to sturdier, slower MODCODs as the SNR falls; nothing decodes unlocked.
        return round(v * min(1.0, max(0.0, (snr_at(f) - UNLOCK_SNR) / 5.5)), 2)

    def latency(f: float, v: float) -> float | None:
        # Unanswered probes report no round-trip time at all.
        s = snr_at(f)
        return None if s < UNLOCK_SNR else round(v + max(0.0, 9 - s) * 60, 1)

    rules: dict[str, MetricRule] = {
        "snr_db": snr,
        "esno_db": snr,
        "ber": ber,
        "packet_loss_pct": loss,
        "throughput_mbps": throughput,
        "latency_ms": latency,
    }
    return Effect(
        window, {("vsat-modem-01", m): rule for m, rule in rules.items()}, frozenset(mutes)
    )


def _modcod(esno: float) -> str:
    return next(name for floor, name in _MODCODS if esno >= floor)


def _modem_lines(
    inv: Inventory, rng: random.Random, window: Window, depth: Depth, *, rain: bool
) -> list[Line]:
    """Walk the signal in 5-second steps and log what the modem would: ACM, UPC, lock changes."""
    vsat = inv["vsat-modem-01"]
    lines: list[Line] = []

    def say(at: datetime, severity: int, text: str) -> None:
        lines.append(modem(vsat, at, severity, text))

    locked, current = True, _modcod(CLEAR_SKY_SNR - 1.2)
    last_upc = last_attempt = window.start - seconds(3600)
    attempts = 0
    down: list[tuple[datetime, datetime]] = []
    impaired: list[tuple[datetime, datetime]] = []
    lost_at = impaired_at = window.start
    impairing = False
    for at in ticks(window.start, window.end, 5):
        snr = CLEAR_SKY_SNR - depth(window.fraction(at)) + rng.gauss(0, 0.1)
        esno = snr - 1.2
        readings = f"Es/No={esno:.1f}dB C/N={snr:.1f}dB"
        # Below 6 dB the loss (over 10%) is enough for the acquirer's TLS sessions to time out.
        if (snr < DEGRADED_SNR - 1) != impairing:
            impairing = not impairing
            if impairing:
                impaired_at = at
            else:
                impaired.append((impaired_at, at))
        if locked and snr < UNLOCK_SNR:
            locked, lost_at, attempts, last_attempt = False, at, 0, at
            say(at, 3, f"[RX] RX lock lost, {readings}")
            say(at + seconds(0.2), 2, "[RX] carrier lost: demodulator unlocked, reacquiring")
        elif not locked and snr >= RELOCK_SNR:
            locked = True
            down.append((lost_at, at))
            say(at, 5, f"[RX] RX lock acquired, {readings}")
        elif not locked and (at - last_attempt).total_seconds() >= 30:
            attempts, last_attempt = attempts + 1, at
            say(at, 3, f"[RX] carrier lost, reacquisition attempt {attempts}, {readings}")
        if not locked:
            continue
        best = _modcod(esno)
        if best != current:
            if _MODCOD_NAMES.index(best) > _MODCOD_NAMES.index(current):
                say(
                    at, 4, f"[ACM] MODCOD downshift {current} -> {best}, {readings} below threshold"
                )
            else:
                say(at, 5, f"[ACM] MODCOD upshift {current} -> {best}, {readings}")
            current = best
        if rain and snr < 9.5 and (at - last_upc).total_seconds() >= 30:
            last_upc = at
            power = -14 + min(6.0, (CLEAR_SKY_SNR - snr) * 0.8)
            say(
                at,
                4,
                f"[UPC] TX power raised to {power:.1f}dBm to compensate rain fade, {readings}",
            )
    if not locked:
        down.append((lost_at, window.end))
    if impairing:
        impaired.append((impaired_at, window.end))
    return lines + _vsat_path_symptoms(inv, rng, window, down=down, impaired=impaired)


def _vsat_path_symptoms(
    inv: Inventory,
    rng: random.Random,
    window: Window,
    *,
    down: list[tuple[datetime, datetime]],
    impaired: list[tuple[datetime, datetime]],
) -> list[Line]:
    """What the VSAT path's dependants log: the firewall's link monitor and timed-out sessions,
    payment timeouts on the POS gateway, failed shore syncs of the reservations system."""
    fw, gateway, reservations = inv["fw-01"], inv["pos-gw-01"], inv["res-app-01"]

    def clip(at: datetime) -> datetime:
        return min(at, window.end)

    lines: list[Line] = []
    for lost, regained in down:
        monitor = {
            "logdesc": "Link monitor status",
            "name": "wan-vsat-mon",
            "interface": "wan-vsat",
        }
        lines.append(
            forti(
                fw,
                clip(lost + seconds(6)),
                "0100022932",
                "event",
                "system",
                4,
                "Link Monitor changed state from alive to die, protocol: ping.",
                {**monitor, "status": "die"},
            )
        )
        if regained < window.end:
            lines.append(
                forti(
                    fw,
                    clip(regained + seconds(4)),
                    "0100022932",
                    "event",
                    "system",
                    5,
                    "Link Monitor changed state from die to alive, protocol: ping.",
                    {**monitor, "status": "alive"},
                )
            )
    for start, end in impaired:
        for at in poisson(rng, start, end, 0.4):
            fields = {
                "srcip": gateway.mgmt_ip,
                "srcport": rng.randrange(32768, 61000),
                "srcintf": "server-lan",
                "srcintfrole": "lan",
                "dstip": ACQUIRER_IP,
                "dstport": 443,
                "dstintf": "wan-vsat",
                "dstintfrole": "wan",
                "proto": 6,
                "action": "timeout",
                "policyid": 20,
                "policytype": "policy",
                "service": "HTTPS",
                "duration": 30,
                "sentbyte": rng.randrange(600, 2400),
                "rcvdbyte": 0,
            }
            lines.append(forti(fw, at, "0000000013", "traffic", "forward", 5, fields=fields))
        for at in poisson(rng, start, end, 1 / 12):
            terminal = f"pos-term-0{rng.randrange(1, 5)}"
            sd = {
                "txn@32473": {
                    "terminal": terminal,
                    "result": "timeout",
                    "auth_ms": 30000,
                    "acquirer": ACQUIRER_IP,
                }
            }
            lines.append(
                app(
                    gateway,
                    at,
                    "caps",
                    3,
                    f"payment gateway timeout: no response from acquirer {ACQUIRER_IP} after "
                    f"30000 ms ({terminal})",
                    msgid="TXN",
                    procid=4411,
                    structured=sd,
                )
            )
        for at in ticks(start + seconds(20), end, 60):
            sd = {"sync@32473": {"link": "vsat", "result": "timeout"}}
            lines.append(
                app(
                    reservations,
                    at,
                    "resapi",
                    3,
                    "shore sync timeout: no response from shore.aurora-cruises.example after 60 s",
                    msgid="SYNC",
                    procid=2210,
                    structured=sd,
                )
            )
    return lines
