"""Background log noise: what a healthy ship logs all day, none of it anomalous.

Each stream is a generator of Lines in time order with its own seeded random source, so adding
a fault to a scenario never changes the background around it. Rates add up to a few lines per
second ship-wide, more in the afternoon than at night, as on a real ship.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime

from . import addresses as addr
from . import vendors
from .emit import Line, app, cisco, forti, linux, modem, wlc
from .inventory import Device, Inventory
from .timeline import activity, in_order, is_daytime, poisson, seconds, ticks

__all__ = ["background_lines"]

LINUX_SERVERS = (
    "dns-01",
    "dhcp-01",
    "res-db-01",
    "res-app-01",
    "pos-gw-01",
    "crew-portal-01",
    "guest-portal-01",
)
CISCO_SWITCHING = (
    "core-rtr-01",
    "core-rtr-02",
    "acc-sw-01",
    "acc-sw-02",
    "acc-sw-03",
    "acc-sw-04",
    "acc-sw-05",
)
ACCESS_SWITCHES = CISCO_SWITCHING[2:]
ACCESS_POINTS = (
    "ap-d2-crew-01",
    "ap-d2-crew-02",
    "ap-d5-atrium-01",
    "ap-d5-shops-01",
    "ap-d7-fwd-01",
    "ap-d7-aft-01",
    "ap-d9-lido-01",
    "ap-d9-pool-01",
)
POS_TERMINALS = ("pos-term-01", "pos-term-02", "pos-term-03", "pos-term-04")
DAEMON_PIDS = {"sshd": 1022, "chronyd": 611, "dhcpd": 1184, "named": 812, "postgres": 1520}


def background_lines(
    inv: Inventory, seed: int, start: datetime, end: datetime
) -> list[Iterator[Line]]:
    """One time-ordered generator per background stream."""

    def rng(name: str) -> random.Random:
        return random.Random(f"{seed}:background:{name}")

    streams = [
        _fortigate_traffic(inv["fw-01"], rng("fw_traffic"), start, end),
        _fortigate_perf(inv["fw-01"], rng("fw_perf"), start, end),
        _fortigate_ha(inv["fw-02"], start, end),
        _dhcp(inv["dhcp-01"], rng("dhcp"), start, end),
        _wlc_clients(inv, rng("wlc"), start, end),
        _pos_transactions(inv, rng("pos"), start, end),
        _reservations(inv["res-app-01"], rng("resv"), start, end),
        _shore_sync(inv["res-app-01"], rng("resv_sync"), start, end),
        _pg_checkpoints(inv["res-db-01"], rng("pg"), start, end),
        _portal_logins(inv["guest-portal-01"], rng("guest_portal"), start, end, 0.08, "guest"),
        _portal_logins(inv["crew-portal-01"], rng("crew_portal"), start, end, 0.03, "crew"),
        _starlink_reconfigurations(inv["starlink-01"], start, end),
        _modem_status(inv["vsat-modem-01"], rng("modem"), start, end),
        _acu_status(inv["acu-01"], rng("acu"), start, end),
        _lte_status(inv["lte-rtr-01"], start, end),
    ]
    for device_id in LINUX_SERVERS:
        device = inv[device_id]
        streams.append(_ntp(device, rng(f"ntp:{device_id}"), start, end))
        streams.append(_cron(device, rng(f"cron:{device_id}"), start, end))
        streams.append(_admin_ssh(device, rng(f"ssh:{device_id}"), start, end))
    for device_id in CISCO_SWITCHING:
        streams.append(_cisco_admin(inv[device_id], rng(f"config:{device_id}"), start, end))
    for device_id in ACCESS_SWITCHES:
        streams.append(_port_auth(inv[device_id], rng(f"dot1x:{device_id}"), start, end))
    return streams


# --- firewall -----------------------------------------------------------------------------------


def _fortigate_traffic(
    fw: Device, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    # Guest browsing goes out over Starlink; VSAT carries the rest (crew, business traffic).
    services = [("HTTPS", 443, 6)] * 6 + [("DNS", 53, 17), ("HTTP", 80, 6), ("QUIC", 443, 17)]
    session = rng.randrange(10_000_000, 90_000_000)
    for at in poisson(rng, start, end, 3.0, activity):
        service, port, proto = rng.choice(services)
        guest = rng.random() < 0.8
        session += rng.randrange(1, 40)
        sent = rng.randrange(300, 40_000)
        fields = {
            "srcip": addr.guest_ip(rng) if guest else addr.crew_ip(rng),
            "srcport": rng.randrange(32768, 61000),
            "srcintf": "guest-wifi" if guest else "crew-wifi",
            "srcintfrole": "lan",
            "dstip": addr.public_ip(rng),
            "dstport": port,
            "dstintf": "wan-starlink" if guest or rng.random() < 0.5 else "wan-vsat",
            "dstintfrole": "wan",
            "sessionid": session,
            "proto": proto,
            "action": "accept",
            "policyid": 12 if guest else 14,
            "policytype": "policy",
            "service": service,
            "trandisp": "snat",
            "duration": rng.randrange(1, 180),
            "sentbyte": sent,
            "rcvdbyte": sent * rng.randrange(2, 40),
        }
        yield forti(
            fw, at, "0000000013", "traffic", "forward", 5, fields=fields, stream="fw_traffic"
        )


def _fortigate_perf(
    fw: Device, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    # FortiOS logs its performance statistics every five minutes.
    for at in ticks(start, end, 300, 17):
        load = activity(at)
        cpu = round(10 + 20 * load + rng.uniform(-2, 2))
        mem = round(44 + 6 * load + rng.uniform(-1, 1))
        sessions = round(5000 * (20 + 30 * load + rng.uniform(-2, 2)))
        fields = {
            "logdesc": "System performance statistics",
            "action": "perf-stats",
            "cpu": cpu,
            "mem": mem,
            "totalsession": sessions,
        }
        msg = (
            f"Performance statistics: average CPU: {cpu}, memory: {mem}, concurrent sessions: "
            f"{sessions}, setup-rate: {round(40 * load) + 5}"
        )
        yield forti(fw, at, "0100040704", "event", "system", 5, msg, fields, stream="fw_perf")


def _fortigate_ha(fw: Device, start: datetime, end: datetime) -> Iterator[Line]:
    for at in ticks(start, end, 600, 240):
        fields = {
            "logdesc": "HA configuration checksum",
            "ha_role": "slave",
            "sync_status": "in-sync",
        }
        msg = "HA configuration checksums match the primary unit FGT-AURORA-01"
        yield forti(fw, at, "0108037905", "event", "ha", 6, msg, fields, stream="fw_ha")


# --- DHCP, NTP, cron, admin SSH on the Linux servers --------------------------------------------


def _dhcp(server: Device, rng: random.Random, start: datetime, end: datetime) -> Iterator[Line]:
    names = (
        "iPhone",
        "Galaxy-S23",
        "iPad",
        "MacBook-Air",
        "Pixel-8",
        "android-7f3c",
        "DESKTOP-4K2L",
    )
    pid = DAEMON_PIDS["dhcpd"]

    def exchanges() -> Iterator[Line]:
        for at in poisson(rng, start, end, 0.45, activity):
            client, name = addr.mac(rng), rng.choice(names)
            guest = rng.random() < 0.85
            via = addr.GUEST_GATEWAY if guest else addr.CREW_GATEWAY
            lease = addr.guest_ip(rng) if guest else addr.crew_ip(rng)
            if rng.random() < 0.4:  # a phone joining: the full four-message handshake
                steps = [
                    (0.0, f"DHCPDISCOVER from {client} via {via}"),
                    (0.004, f"DHCPOFFER on {lease} to {client} ({name}) via {via}"),
                    (
                        0.35,
                        f"DHCPREQUEST for {lease} ({server.mgmt_ip}) from {client} ({name}) via "
                        f"{via}",
                    ),
                    (0.354, f"DHCPACK on {lease} to {client} ({name}) via {via}"),
                ]
            else:  # a renewal at half the lease time
                steps = [
                    (0.0, f"DHCPREQUEST for {lease} from {client} ({name}) via {via}"),
                    (0.003, f"DHCPACK on {lease} to {client} ({name}) via {via}"),
                ]
            for offset, text in steps:
                yield linux(server, at + seconds(offset), "dhcpd", pid, 6, text, stream="dhcp")

    return in_order(exchanges(), slack_s=1)


def _ntp(server: Device, rng: random.Random, start: datetime, end: datetime) -> Iterator[Line]:
    for at in poisson(rng, start, end, 1 / 1800):
        text = "Selected source 10.10.0.1 (ntp1.aurora.ship)"
        yield linux(server, at, "chronyd", DAEMON_PIDS["chronyd"], 6, text, stream="ntp")


def _cron(server: Device, rng: random.Random, start: datetime, end: datetime) -> Iterator[Line]:
    pid = rng.randrange(20_000, 60_000)
    for at in ticks(start, end, 600, rng.uniform(0, 2)):
        pid += rng.randrange(50, 400)
        text = "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"
        yield linux(server, at, "CRON", pid, 6, text, facility=vendors.CRON, stream="cron")


def _admin_ssh(
    server: Device, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    keys = {
        user: "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
            for _ in range(43)
        )
        for user in addr.ADMINS
    }

    def sessions() -> Iterator[Line]:
        pid = rng.randrange(100_000, 200_000)
        # Admins by day; at night only the nightly automation, which also logs in by key.
        for at in poisson(rng, start, end, 1 / 1500, lambda t: 1.0 if is_daytime(t) else 0.15):
            user = rng.choice(addr.ADMINS) if is_daytime(at) else "svc-ansible"
            source = rng.choice(addr.ADMIN_WORKSTATIONS) if user != "svc-ansible" else "10.10.0.60"
            port = rng.randrange(40000, 65000)
            pid += rng.randrange(10, 500)
            uid = 1001 + (addr.ADMINS.index(user) if user in addr.ADMINS else 9)
            key = keys.get(user, keys[addr.ADMINS[0]])
            length = rng.uniform(20, 240)
            steps = [
                (
                    0.0,
                    f"Accepted publickey for {user} from {source} port {port} ssh2: ED25519 "
                    f"SHA256:{key}",
                ),
                (
                    0.01,
                    f"pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)",
                ),
                (length, f"Received disconnect from {source} port {port}:11: disconnected by user"),
                (length + 0.01, f"pam_unix(sshd:session): session closed for user {user}"),
            ]
            for offset, text in steps:
                yield linux(
                    server,
                    at + seconds(offset),
                    "sshd",
                    pid,
                    6,
                    text,
                    facility=vendors.AUTH,
                    stream="ssh",
                )

    return in_order(sessions(), slack_s=300)


# --- Cisco switching and routing ----------------------------------------------------------------


def _cisco_admin(
    device: Device, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    """An admin logs in by SSH, changes something, leaves: office hours only."""

    def visits() -> Iterator[Line]:
        for at in poisson(rng, start, end, 1 / 3600, lambda t: 1.0 if is_daytime(t) else 0.0):
            user, source = rng.choice(addr.ADMINS), rng.choice(addr.ADMIN_WORKSTATIONS)
            vty = rng.randrange(0, 5)
            stamp = f"{at:%H:%M:%S} UTC {at:%a %b} {at.day} {at.year}"
            configured = at + seconds(rng.uniform(30, 120))
            left = configured + seconds(rng.uniform(5, 20))
            yield cisco(
                device,
                at,
                "SEC_LOGIN",
                5,
                "LOGIN_SUCCESS",
                f"Login Success [user: {user}] [Source: {source}] [localport: 22] at {stamp}",
                stream="config",
            )
            yield cisco(
                device,
                configured,
                "SYS",
                5,
                "CONFIG_I",
                f"Configured from console by {user} on vty{vty} ({source})",
                stream="config",
            )
            yield cisco(
                device,
                left,
                "SYS",
                6,
                "LOGOUT",
                f"User {user} has exited tty session {vty + 2}({source})",
                stream="config",
            )

    return in_order(visits(), slack_s=150)


def _port_auth(
    switch: Device, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    """802.1X on the access ports: crew PCs, printers and cabin TVs authenticating."""

    def sessions() -> Iterator[Line]:
        for at in poisson(rng, start, end, 0.02, activity):
            client, port = addr.cisco_mac(rng), f"Gi1/0/{rng.randrange(1, 45)}"
            audit = f"0A0A01{rng.randrange(16**18):018X}"
            yield cisco(
                switch,
                at,
                "DOT1X",
                5,
                "SUCCESS",
                f"Authentication successful for client ({client}) on Interface {port} "
                f"AuditSessionID {audit}",
                stream="dot1x",
            )
            yield cisco(
                switch,
                at + seconds(0.02),
                "AUTHMGR",
                5,
                "SUCCESS",
                f"Authorization succeeded for client ({client}) on Interface {port} "
                f"AuditSessionID {audit}",
                stream="dot1x",
            )

    return in_order(sessions(), slack_s=1)


# --- Wi-Fi ------------------------------------------------------------------------------------


def _wlc_clients(
    inv: Inventory, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    controller = inv["wlc-01"]
    aps = [inv[ap].hostname for ap in ACCESS_POINTS]
    wlans = {2: "AURORA-GUEST", 3: "AURORA-CREW"}
    for at in poisson(rng, start, end, 0.5, activity):
        client, ap = addr.mac(rng), rng.choice(aps)
        wlan = 2 if rng.random() < 0.8 else 3
        task = f"apfMsConnTask_{rng.randrange(8)}"
        kind = rng.random()
        if kind < 0.55:
            text = (
                f"apf_80211.c:9452 Client {client} associated to AP {ap} slot {rng.randrange(2)} "
                f"WLAN {wlan} ({wlans[wlan]})"
            )
            yield wlc(controller, at, task, "APF", 6, "MOBILE_ASSOC", text, stream="wlc")
        elif kind < 0.85:
            other = rng.choice([a for a in aps if a != ap])
            text = (
                f"apf_80211.c:9730 Client {client} roamed from AP {ap} to AP {other} on WLAN "
                f"{wlan} ({wlans[wlan]})"
            )
            yield wlc(controller, at, task, "APF", 6, "MOBILE_ROAM", text, stream="wlc")
        else:
            text = (
                f"apf_ms.c:5102 Client {client} left WLAN {wlan} ({wlans[wlan]}) on {ap}, reason "
                "8: leaving BSS"
            )
            yield wlc(controller, at, task, "APF", 6, "MOBILE_LEAVE", text, stream="wlc")


# --- hotel applications (RFC 5424) ----------------------------------------------------------------


def _pos_transactions(
    inv: Inventory, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    gateway = inv["pos-gw-01"]
    for at in poisson(rng, start, end, 0.25, activity):
        terminal = rng.choice(POS_TERMINALS)
        price = rng.choice([4.5, 6.0, 8.5, 12.0, 14.5, 18.0, 24.0, 39.0, 65.0])
        amount = f"{price * rng.randint(1, 3):.2f}"
        auth_ms = rng.randrange(900, 2600)  # card authorisation over the satellite to the acquirer
        sd = {
            "txn@32473": {
                "terminal": terminal,
                "amount": amount,
                "currency": "USD",
                "result": "approved",
                "auth_ms": auth_ms,
            }
        }
        yield app(
            gateway,
            at,
            "caps",
            6,
            f"transaction approved on {terminal}: {amount} USD in {auth_ms} ms",
            msgid="TXN",
            procid=4411,
            structured=sd,
            stream="pos_txn",
        )


def _reservations(
    server: Device, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    routes = [
        ("GET", "/api/v2/bookings/{id}"),
        ("GET", "/api/v2/excursions"),
        ("GET", "/api/v2/dining/availability"),
        ("POST", "/api/v2/dining/reservations"),
        ("GET", "/api/v2/spa/slots"),
        ("POST", "/api/v2/excursions/{id}/bookings"),
    ]
    for at in poisson(rng, start, end, 0.4, activity):
        method, route = rng.choice(routes)
        path = route.replace("{id}", f"AUR-{rng.randrange(100000, 999999)}")
        status = 201 if method == "POST" else 200
        elapsed = rng.randrange(8, 120)
        sd = {"req@32473": {"method": method, "path": path, "status": status, "ms": elapsed}}
        yield app(
            server,
            at,
            "resapi",
            6,
            f"{method} {path} {status} {elapsed}ms",
            msgid="REQ",
            procid=2210,
            structured=sd,
            stream="resv",
        )


def _shore_sync(
    server: Device, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    for at in ticks(start, end, 300, 45):
        pushed, pulled = rng.randrange(5, 80), rng.randrange(0, 20)
        sd = {"sync@32473": {"pushed": pushed, "pulled": pulled, "link": "vsat"}}
        yield app(
            server,
            at,
            "resapi",
            6,
            f"shore sync ok: pushed {pushed} records, pulled {pulled}",
            msgid="SYNC",
            procid=2210,
            structured=sd,
            stream="resv_sync",
        )


def _pg_checkpoints(
    server: Device, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    def postgres(at: datetime, text: str) -> Line:
        # PostgreSQL's syslog_facility defaults to local0.
        pid = DAEMON_PIDS["postgres"]
        return linux(
            server, at, "postgres", pid, 6, text, facility=vendors.LOCAL0, stream="pg_checkpoint"
        )

    for entry, at in enumerate(ticks(start, end, 300, 120), start=1):
        buffers, write_s = rng.randrange(200, 4000), rng.uniform(20, 150)
        yield postgres(at, f"[{2 * entry - 1}-1] LOG:  checkpoint starting: time")
        yield postgres(
            at + seconds(write_s),
            f"[{2 * entry}-1] LOG:  checkpoint complete: wrote {buffers} buffers "
            f"({buffers / 163.84:.1f}%); 0 WAL file(s) added, 0 removed, 1 recycled; "
            f"write={write_s:.3f} s, sync=0.004 s, total={write_s + 0.01:.3f} s",
        )


def _portal_logins(
    portal: Device, rng: random.Random, start: datetime, end: datetime, rate: float, audience: str
) -> Iterator[Line]:
    packages = ("social", "surf", "premium") if audience == "guest" else ("crew-basic", "crew-plus")
    for at in poisson(rng, start, end, rate, activity):
        package = rng.choice(packages)
        sd = {
            "auth@32473": {
                "audience": audience,
                "package": package,
                "result": "ok",
                "mac": addr.mac(rng),
            }
        }
        yield app(
            portal,
            at,
            "portal",
            6,
            f"{audience} login ok (package {package})",
            msgid="LOGIN",
            procid=3100,
            structured=sd,
            stream="portal",
        )


# --- satellite and WAN ------------------------------------------------------------------------


def _starlink_reconfigurations(dish: Device, start: datetime, end: datetime) -> Iterator[Line]:
    """Starlink reassigns satellites every 15 s, at :12, :27, :42 and :57 past each minute.

    Dishes have no syslog of their own; the ship's Starlink exporter relays dish events under
    the dish's hostname.
    """
    first = start.replace(second=12, microsecond=0)
    while first < start:
        first += seconds(15)
    for at in ticks(first, end, 15):
        yield linux(
            dish,
            at,
            "dish",
            None,
            6,
            "scheduled reconfiguration: satellite handoff complete",
            facility=vendors.LOCAL2,
            stream="starlink",
        )


def _modem_status(
    vsat: Device, rng: random.Random, start: datetime, end: datetime
) -> Iterator[Line]:
    for at in ticks(start, end, 300, 30):
        esno = 10.8 + rng.uniform(-0.4, 0.4)
        text = (
            f"[STAT] RX locked, Es/No={esno:.1f}dB C/N={esno + 1.2:.1f}dB, MODCOD 8PSK 5/6, TX "
            f"power {rng.uniform(-15, -13):.1f}dBm"
        )
        yield modem(vsat, at, 6, text, stream="modem_status")


def _acu_status(acu: Device, rng: random.Random, start: datetime, end: datetime) -> Iterator[Line]:
    heading = rng.uniform(0, 360)
    for at in ticks(start, end, 300, 50):
        heading = (heading + rng.uniform(-4, 4)) % 360
        text = (
            f"[TRK] tracking OK: sat IS-37e Az={(212 - heading) % 360:.1f} "
            f"El=38.{rng.randrange(10)} AGC={rng.randrange(1760, 1880)} heading={heading:.1f}"
        )
        yield modem(acu, at, 6, text, program="acud", pid=210, stream="acu_status")


def _lte_status(router: Device, start: datetime, end: datetime) -> Iterator[Line]:
    # At sea the LTE WAN stays in standby; it becomes useful only near port.
    for at in ticks(start, end, 1800, 600):
        yield linux(
            router,
            at,
            "wan",
            312,
            6,
            "WAN LTE standby: cellular roaming disabled at sea",
            facility=vendors.LOCAL3,
            stream="lte",
        )
