"""What makes two anomalies the same incident: the fingerprint, the incident-type families, and
which symptom types a link or network fault upstream plausibly causes downstream.

The tables below are data on purpose: docs/CORRELATION.md documents them, and a change of
correlation behaviour is a change here, reviewed as such.
"""

from __future__ import annotations

import re

from aiops_core.models import IncidentType

# Types that describe the same fault seen from different angles share a family: a VSAT modem
# that degrades and then loses lock is one link incident, not two.
FAMILY_OF: dict[IncidentType, str] = {
    IncidentType.LINK_DEGRADATION: "link",
    IncidentType.COMMS_OUTAGE: "link",
    IncidentType.NETWORK_ISSUE: "network",
    IncidentType.RESOURCE_PRESSURE: "resource",
    IncidentType.AUTH_FAILURE: "security",
    IncidentType.SECURITY_ALERT: "security",
    IncidentType.APP_DEGRADATION: "app",
    IncidentType.POWER_OR_HARDWARE: "hardware",
    IncidentType.CONFIG_CHANGE: "change",
    IncidentType.UNKNOWN: "unknown",
}

# An open incident of these families on a device explains symptoms on the devices behind it:
# a link or network fault upstream, or an application whose clients depend on it (the POS
# terminals behind a failing payment gateway).
ROOT_CAUSE_FAMILIES: frozenset[str] = frozenset({"link", "network", "app"})

# Symptom types a link or network fault upstream plausibly causes on a downstream device, and for
# each the text (template or message) it must show; None means every anomaly of the type.
# An application anomaly joins an upstream link incident only when it reads like lost
# connectivity: an expired certificate or a full disk behind the modem is its own incident, and
# auth failures or security alerts never join (a brute force is not a satellite problem).
_LOST_CONNECTIVITY = re.compile(
    r"time[sd]?[ -]?out|unreachable|unavailable|offline|no route|host down"
    r"|connection (?:refused|reset|lost|closed|failed)|(?:cannot|could not|unable to) connect",
    re.IGNORECASE,
)
DOWNSTREAM_SYMPTOMS: dict[IncidentType, re.Pattern[str] | None] = {
    IncidentType.LINK_DEGRADATION: None,
    IncidentType.COMMS_OUTAGE: None,
    IncidentType.NETWORK_ISSUE: None,
    IncidentType.APP_DEGRADATION: _LOST_CONNECTIVITY,
    # An untyped error (syslog severity, new template) that reads like lost connectivity behind a
    # failing link is a symptom of it too.
    IncidentType.UNKNOWN: _LOST_CONNECTIVITY,
}

# Inside one family the more severe reading names the incident: a link that degrades and then
# drops is an outage.
TYPE_PRECEDENCE: dict[IncidentType, int] = {
    IncidentType.LINK_DEGRADATION: 0,
    IncidentType.COMMS_OUTAGE: 1,
}


def family_of(incident_type: IncidentType | str) -> str:
    # IncidentType is a StrEnum: its members and their plain values are the same dict key.
    return FAMILY_OF[incident_type]  # type: ignore[index]


def fingerprint_of(ship_id: str, incident_type: IncidentType | str, root_device: str) -> str:
    """The incident identity: `<ship_id>:<family>:<root device>`.

    - ship_id: incidents never span ships;
    - family: the incident type's family (`FAMILY_OF`), so link_degradation and comms_outage of
      one modem are one incident while an auth failure on the same device is another;
    - root device: the device the incident is rooted at after topology resolution, i.e. the
      upstream device with an open link/network incident when the anomaly is a downstream
      symptom (`DOWNSTREAM_SYMPTOMS`), otherwise the anomaly's own device.

    Example: a POS gateway timeout behind a degraded VSAT modem on ms-aurora has the fingerprint
    `ms-aurora:link:vsat-modem-01`.
    """
    return f"{ship_id}:{family_of(incident_type)}:{root_device}"


def is_downstream_symptom(incident_type: IncidentType | str, text: str) -> bool:
    """True when an anomaly of this type and text may be the effect of an upstream link fault."""
    if incident_type not in DOWNSTREAM_SYMPTOMS:
        return False
    pattern = DOWNSTREAM_SYMPTOMS[incident_type]  # type: ignore[index]
    return pattern is None or pattern.search(text) is not None


def signature_of(device_id: str, incident_type: IncidentType | str, detail: str) -> str:
    """The finer identity used for deduplication inside an incident: the same device reporting the
    same type with the same template (or metric, or detector) within the dedup TTL is a repeat."""
    return f"{device_id}:{incident_type}:{detail}"
