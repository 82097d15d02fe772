"""The labelled faults the simulator can inject, each with its ground truth."""

from __future__ import annotations

from types import MappingProxyType

from .base import Effect, Fault, FaultPlan, FaultSpec, Window
from .hosts import disk_full, pos_outage, ssh_brute_force
from .link import antenna_blockage, modem_reboot, rain_fade
from .network import dhcp_exhaustion, dns_failure, firewall_session_exhaustion, interface_flapping

__all__ = ["FAULTS", "Effect", "Fault", "FaultPlan", "FaultSpec", "Window"]

# The VSAT path's dependants: payments and shore sync are pinned to VSAT, behind the firewall.
_VSAT_PATH = ("fw-01", "pos-gw-01", "res-app-01")

_SPECS = (
    FaultSpec(
        name="rain_fade",
        incident_type="link_degradation",
        devices=("vsat-modem-01", *_VSAT_PATH),
        natural_s=720,
        description="Heavy rain: VSAT SNR sinks below 7 dB for minutes, ACM downshifts, the "
        "carrier drops at the worst; payments and shore sync over VSAT time out downstream.",
        build=rain_fade,
    ),
    FaultSpec(
        name="antenna_blockage",
        incident_type="link_degradation",
        devices=("acu-01", "vsat-modem-01", *_VSAT_PATH),
        natural_s=240,
        description="The funnel shadows the VSAT antenna on this heading: the ACU loses track, "
        "SNR drops abruptly and the modem loses lock until the ship turns out of the zone.",
        build=antenna_blockage,
    ),
    FaultSpec(
        name="modem_reboot",
        incident_type="comms_outage",
        devices=("vsat-modem-01", "core-rtr-01", *_VSAT_PATH),
        natural_s=240,
        description="The VSAT modem's watchdog reboots it: no VSAT link for about three "
        "minutes, then cold start and re-acquisition.",
        build=modem_reboot,
    ),
    FaultSpec(
        name="interface_flapping",
        incident_type="network_issue",
        devices=("acc-sw-03",),
        natural_s=360,
        description="A failing cable on acc-sw-03 Gi1/0/17 (cabin block 7A): the port goes "
        "down and up every 20-40 s with a burst of CRC errors.",
        build=interface_flapping,
    ),
    FaultSpec(
        name="firewall_session_exhaustion",
        incident_type="resource_pressure",
        devices=("fw-01",),
        natural_s=480,
        description="One guest device floods the FortiGate's session table past 95%; it enters "
        "memory conserve mode and drops new sessions.",
        build=firewall_session_exhaustion,
    ),
    FaultSpec(
        name="dhcp_exhaustion",
        incident_type="network_issue",
        devices=("dhcp-01",),
        natural_s=600,
        description="The guest Wi-Fi DHCP pool reaches 100%: new devices get 'no free leases'.",
        build=dhcp_exhaustion,
    ),
    FaultSpec(
        name="dns_failure",
        incident_type="network_issue",
        devices=("dns-01",),
        natural_s=300,
        description="named on dns-01 hits its recursive-client quota: SERVFAIL and timeouts for "
        "most lookups while the links are healthy, until it is restarted.",
        build=dns_failure,
    ),
    FaultSpec(
        name="disk_full",
        incident_type="resource_pressure",
        devices=("res-db-01", "res-app-01"),
        natural_s=600,
        description="The reservations database's disk fills to 99%: PostgreSQL and the "
        "reservations API fail writes with 'No space left on device'.",
        build=disk_full,
    ),
    FaultSpec(
        name="ssh_brute_force",
        incident_type="auth_failure",
        devices=("crew-portal-01",),
        natural_s=300,
        description="A public internet host guesses SSH passwords on crew-portal-01: many "
        "'Failed password for invalid user' lines from one address.",
        build=ssh_brute_force,
    ),
    FaultSpec(
        name="pos_outage",
        incident_type="app_degradation",
        devices=("pos-gw-01", "pos-term-01", "pos-term-02", "pos-term-03", "pos-term-04"),
        natural_s=360,
        description="The POS payment gateway's worker pool wedges: payments are rejected and "
        "every terminal falls back to offline mode until the watchdog restarts the service.",
        build=pos_outage,
    ),
)

FAULTS: MappingProxyType[str, FaultSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
