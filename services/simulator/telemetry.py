"""Background telemetry: the metric samples a healthy ship's pollers collect.

Values drift slowly (AR(1) wander) around realistic baselines and follow the ship's day where
load does (sessions, Wi-Fi clients, CPU); faults bend them later, in the scenario.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime

from .background import ACCESS_POINTS, ACCESS_SWITCHES, LINUX_SERVERS
from .emit import Sample
from .timeline import activity, seconds, ticks, wander

__all__ = ["telemetry_samples"]

# Baselines per server: (cpu at night, extra cpu at the busiest hour, mem, disk).
_SERVER_BASELINES = {
    "dns-01": (6, 8, 38, 41),
    "dhcp-01": (4, 5, 31, 36),
    "res-db-01": (18, 25, 68, 72),
    "res-app-01": (15, 30, 61, 48),
    "pos-gw-01": (8, 14, 55, 44),
    "crew-portal-01": (5, 10, 42, 52),
    "guest-portal-01": (9, 20, 47, 39),
}
# Guest and crew areas differ in how many clients an AP carries at the busiest hour.
_AP_PEAK_CLIENTS = {
    "ap-d2-crew-01": 70,
    "ap-d2-crew-02": 55,
    "ap-d5-atrium-01": 180,
    "ap-d5-shops-01": 140,
    "ap-d7-fwd-01": 90,
    "ap-d7-aft-01": 85,
    "ap-d9-lido-01": 210,
    "ap-d9-pool-01": 160,
}


def telemetry_samples(seed: int, start: datetime, end: datetime) -> list[Iterator[Sample]]:
    """One time-ordered generator per polled device."""

    def rng(name: str) -> random.Random:
        return random.Random(f"{seed}:telemetry:{name}")

    streams = [
        _vsat(rng("vsat-modem-01"), start, end),
        _starlink(rng("starlink-01"), start, end),
        _dhcp_pool(rng("dhcp-01"), start, end),
        _dns(rng("dns-01"), start, end),
        _wifi(rng("wifi"), start, end),
    ]
    streams += [_server(d, rng(d), start, end) for d in LINUX_SERVERS]
    streams += [_firewall(d, rng(d), start, end) for d in ("fw-01", "fw-02")]
    streams += [_router(d, rng(d), start, end) for d in ("core-rtr-01", "core-rtr-02")]
    streams += [_if_errors(d, rng(d), start, end) for d in ACCESS_SWITCHES]
    return streams


def _pct(value: float) -> float:
    return round(min(100.0, max(0.0, value)), 2)


def _vsat(rng: random.Random, start: datetime, end: datetime) -> Iterator[Sample]:
    labels = {"link": "vsat", "band": "ku"}
    snr, latency, rate = wander(rng, 0.35, 0.95), wander(rng, 8), wander(rng, 1.5)
    for at in ticks(start, end, 10, rng.uniform(0, 2)):
        snr_db = 12.0 + next(snr)
        values = {
            "snr_db": round(snr_db, 2),
            "esno_db": round(snr_db - 1.2 + rng.gauss(0, 0.05), 2),
            "ber": float(f"{10 ** rng.gauss(-8, 0.2):.3g}"),
            "latency_ms": round(
                min(650.0, max(600.0, 622 + next(latency) + abs(rng.gauss(0, 4)))), 1
            ),
            "packet_loss_pct": round(min(0.5, abs(rng.gauss(0, 0.12))), 3),
            # The modem's achievable rate at the current MODCOD, not the offered traffic.
            "throughput_mbps": round(48 + next(rate), 2),
        }
        for metric, value in values.items():
            yield Sample(at, "vsat-modem-01", metric, value, labels)


def _starlink(rng: random.Random, start: datetime, end: datetime) -> Iterator[Sample]:
    labels = {"link": "starlink"}
    latency, rate = wander(rng, 4), wander(rng, 25)
    for at in ticks(start, end, 10, rng.uniform(0, 2)):
        # A sample taken just after the 15-second reconfiguration (at :12, :27, :42, :57) catches
        # its brief latency blip: normal behaviour, well inside the usual 30-80 ms band.
        since_reconfiguration = (at.second + at.microsecond / 1e6 - 12) % 15
        blip = rng.uniform(8, 18) if since_reconfiguration < 5 else 0.0
        values = {
            "latency_ms": round(min(60.0, max(30.0, 38 + next(latency))) + blip, 1),
            "packet_loss_pct": round(min(0.5, abs(rng.gauss(0, 0.15))), 3),
            "throughput_mbps": round(max(120.0, 220 + next(rate)), 1),
        }
        for metric, value in values.items():
            yield Sample(at, "starlink-01", metric, value, labels)


def _server(device_id: str, rng: random.Random, start: datetime, end: datetime) -> Iterator[Sample]:
    cpu_base, cpu_peak, mem_base, disk_base = _SERVER_BASELINES[device_id]
    cpu, mem, disk = wander(rng, 3, 0.7), wander(rng, 1.5, 0.95), wander(rng, 0.2, 0.99)
    for at in ticks(start, end, 30, rng.uniform(0, 3)):
        yield Sample(
            at, device_id, "cpu_pct", _pct(cpu_base + cpu_peak * activity(at) + abs(next(cpu)))
        )
        yield Sample(at, device_id, "mem_pct", _pct(mem_base + next(mem)))
        yield Sample(at, device_id, "disk_pct", _pct(disk_base + next(disk)), {"mount": "/"})


def _firewall(
    device_id: str, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Sample]:
    # The HA secondary holds a synchronised copy of the primary's session table.
    sessions, cpu, mem = wander(rng, 2), wander(rng, 2, 0.7), wander(rng, 1)
    for at in ticks(start, end, 30, rng.uniform(0, 3)):
        load = activity(at)
        yield Sample(at, device_id, "fw_sessions_pct", _pct(20 + 30 * load + next(sessions)))
        yield Sample(at, device_id, "cpu_pct", _pct(10 + 20 * load + abs(next(cpu))))
        yield Sample(at, device_id, "mem_pct", _pct(44 + 6 * load + next(mem)))


def _router(device_id: str, rng: random.Random, start: datetime, end: datetime) -> Iterator[Sample]:
    cpu, mem = wander(rng, 2, 0.7), wander(rng, 0.5)
    for at in ticks(start, end, 30, rng.uniform(0, 3)):
        yield Sample(at, device_id, "cpu_pct", _pct(8 + 10 * activity(at) + abs(next(cpu))))
        yield Sample(at, device_id, "mem_pct", _pct(38 + next(mem)))


def _dhcp_pool(rng: random.Random, start: datetime, end: datetime) -> Iterator[Sample]:
    drift = wander(rng, 1.0, 0.95)
    for at in ticks(start, end, 60, rng.uniform(0, 3)):
        yield Sample(
            at,
            "dhcp-01",
            "dhcp_pool_pct",
            _pct(45 + 28 * activity(at) + next(drift)),
            {"pool": "guest-wifi"},
        )


def _dns(rng: random.Random, start: datetime, end: datetime) -> Iterator[Sample]:
    for at in ticks(start, end, 60, rng.uniform(0, 3)):
        yield Sample(at, "dns-01", "dns_fail_pct", round(min(1.2, abs(rng.gauss(0.3, 0.15))), 3))


def _wifi(rng: random.Random, start: datetime, end: datetime) -> Iterator[Sample]:
    for at in ticks(start, end, 60, rng.uniform(0, 3)):
        load = activity(at)
        total = 0
        for ap in ACCESS_POINTS:
            clients = max(0, round(_AP_PEAK_CLIENTS[ap] * load + rng.gauss(0, 4)))
            total += clients
            yield Sample(at + seconds(0.01), ap, "wifi_clients", float(clients))
        # The controller counts every AP on board, not just the eight modelled here.
        yield Sample(at + seconds(0.02), "wlc-01", "wifi_clients", float(round(total * 4.6)))


def _if_errors(
    device_id: str, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Sample]:
    for at in ticks(start, end, 60, rng.uniform(0, 3)):
        yield Sample(at, device_id, "if_errors", float(int(abs(rng.gauss(0, 0.8)))))
