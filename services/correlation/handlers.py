"""Correlation logic: anomalies in, incidents out. No bus, no store: the clock, the topology and
the state are given, so every rule is testable without NATS.

For one anomaly, in order (docs/CORRELATION.md has the full story):
1. a redelivered anomaly (its id already absorbed) changes nothing;
2. maintenance windows and suppression rules mark it suppressed or downgraded;
3. a downstream symptom joins the open link/network incident of the most upstream device;
4. otherwise it joins the open incident with its own fingerprint (inside the type's window and
   the maximum incident age);
5. otherwise a link/network anomaly re-roots an open symptom-only incident downstream of it;
6. otherwise, if its fingerprint is flapping, the last resolved incident is reopened;
7. otherwise a new incident opens, unless the ship is in an incident storm, in which case it is
   folded into the storm incident.
Times are the anomaly's `detected_at` (this node's clock), never the device's clock, which drifts
on a ship; so a redelivered anomaly is correlated exactly as the first time.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from aiops_core.models import (
    EnrichedAnomaly,
    Incident,
    IncidentChange,
    IncidentStatus,
    IncidentType,
    Severity,
    TimelineEvent,
)
from aiops_core.policy import CorrelatePolicy
from services.correlation.fingerprint import (
    ROOT_CAUSE_FAMILIES,
    TYPE_PRECEDENCE,
    family_of,
    fingerprint_of,
    is_downstream_symptom,
    signature_of,
)
from services.correlation.state import (
    MAX_AFFECTED_DEVICES,
    MAX_DETECTORS,
    MAX_EVIDENCE,
    MAX_SERVICES,
    MAX_TRACKING_IDS,
    CorrelationState,
    IncidentState,
    Meta,
    add_capped,
)

STAGE = "correlation"
# Incident ids are uuid5(fingerprint | first anomaly_id) in this namespace: a redelivery after a
# crash rebuilds the same id, hence the same Nats-Msg-Id, which JetStream deduplicates.
INCIDENT_NAMESPACE = uuid.UUID("5f0c7a8e-2b1d-4c3e-9a6f-0d1e2f3a4b5c")
STORM_RATE_SECONDS = 60
STORM_FAMILY = "storm"

# Direction of a line that reports a state change, for device flapping (up/down toggles).
_DOWN = re.compile(r"\b(?:down|lost|disconnected|offline|unreachable)\b", re.IGNORECASE)
_UP = re.compile(r"\b(?:up|restored|reconnected|online|reachable|acquired|recovered)\b", re.IGNORECASE)

# Suppressions correlation lifts by itself once an unsuppressed anomaly arrives; an operator's
# suppression and flapping stay until someone changes the status.
_AUTOMATIC_SUPPRESSION = ("maintenance:", "rule:")

_TYPE_LABEL = {t: t.value.replace("_", " ").capitalize() for t in IncidentType}

How = Literal["created", "topology", "fingerprint", "rerooted", "reopened", "storm"]
Label = Literal["created", "updated", "suppressed", "deduplicated"]


@dataclass(frozen=True)
class Correlated:
    """What one anomaly did: the change to publish and how to count it."""

    change: Literal["created", "updated"]
    incident: Incident
    label: Label
    how: How


@dataclass(frozen=True)
class Pending:
    """State to persist: changed incidents, evicted incident ids, and the meta document if changed."""

    incidents: tuple[IncidentState, ...]
    evicted: tuple[str, ...]
    meta: Meta | None

    def __bool__(self) -> bool:
        return bool(self.incidents or self.evicted or self.meta)


def incident_id_for(fingerprint: str, first_anomaly_id: str) -> str:
    return str(uuid.uuid5(INCIDENT_NAMESPACE, f"{fingerprint}|{first_anomaly_id}"))


def incident_change(result: Correlated, trigger: EnrichedAnomaly) -> IncidentChange:
    """The bus message: the incident as it now stands and the anomaly that changed it."""
    return IncidentChange.model_construct(change=result.change, incident=result.incident, trigger=trigger, actor=None)


def direction_of(text: str) -> str | None:
    """"down" or "up" for a line that reports one state change, None otherwise."""
    down, up = _DOWN.search(text) is not None, _UP.search(text) is not None
    if down == up:
        return None
    return "down" if down else "up"


class Correlator:
    """Holds the open incidents and decides, anomaly by anomaly, which one each belongs to."""

    def __init__(
        self,
        policy: CorrelatePolicy,
        topology,
        clock: Callable[[], datetime],
        state: CorrelationState | None = None,
    ) -> None:
        self.policy = policy
        self.topology = topology
        self.clock = clock
        self.load(state or CorrelationState())

    # --- state --------------------------------------------------------------------------------

    def load(self, state: CorrelationState) -> None:
        """Replaces the whole state (start, or rollback to the last persisted state)."""
        self.incidents = dict(state.incidents)
        self.meta = state.meta
        self.watermark: datetime | None = None
        self._by_fingerprint: dict[str, str] = {}
        self._by_root: dict[tuple[str, str], dict[str, None]] = {}
        self._resolved_by_fingerprint: dict[str, str] = {}
        self._absorbed: dict[str, str] = {}
        for incident in sorted(self.incidents.values(), key=lambda i: (i.created_at, i.incident_id)):
            for anomaly_id in incident.recent_anomaly_ids:
                self._absorbed[anomaly_id] = incident.incident_id
            if incident.status == IncidentStatus.RESOLVED:
                self._resolved_by_fingerprint[incident.fingerprint] = incident.incident_id
            else:
                self._index(incident)
        self._dirty: dict[str, None] = {}
        self._evicted: dict[str, None] = {}
        self._meta_dirty = False

    def pending(self) -> Pending:
        return Pending(
            incidents=tuple(self.incidents[i] for i in self._dirty if i in self.incidents),
            evicted=tuple(self._evicted),
            meta=self.meta if self._meta_dirty else None,
        )

    def persisted(self, pending: Pending) -> None:
        """Forgets what `pending` held once it is stored (changes made since stay pending)."""
        for incident in pending.incidents:
            self._dirty.pop(incident.incident_id, None)
        for incident_id in pending.evicted:
            self._evicted.pop(incident_id, None)
        if pending.meta is not None:
            self._meta_dirty = False

    def _index(self, incident: IncidentState) -> None:
        for fingerprint in (incident.fingerprint, *incident.aliases):
            self._by_fingerprint[fingerprint] = incident.incident_id
        self._by_root.setdefault((incident.ship_id, incident.root_cause_device), {})[incident.incident_id] = None

    def _unindex(self, incident: IncidentState) -> None:
        for fingerprint in (incident.fingerprint, *incident.aliases):
            if self._by_fingerprint.get(fingerprint) == incident.incident_id:
                del self._by_fingerprint[fingerprint]
        roots = self._by_root.get((incident.ship_id, incident.root_cause_device))
        if roots is not None:
            roots.pop(incident.incident_id, None)
            if not roots:
                del self._by_root[(incident.ship_id, incident.root_cause_device)]

    def _evict(self, incident: IncidentState) -> None:
        self._unindex(incident)
        for anomaly_id in incident.recent_anomaly_ids:
            if self._absorbed.get(anomaly_id) == incident.incident_id:
                del self._absorbed[anomaly_id]
        if self._resolved_by_fingerprint.get(incident.fingerprint) == incident.incident_id:
            del self._resolved_by_fingerprint[incident.fingerprint]
        if self.meta.storm_incident.get(incident.ship_id) == incident.incident_id:
            del self.meta.storm_incident[incident.ship_id]
            self._meta_dirty = True
        del self.incidents[incident.incident_id]
        self._dirty.pop(incident.incident_id, None)
        self._evicted[incident.incident_id] = None

    def _touch(self, incident: IncidentState) -> None:
        incident.version += 1
        incident.updated_at = self.clock()
        self._dirty[incident.incident_id] = None

    # --- windows ------------------------------------------------------------------------------

    def window(self, incident: IncidentState) -> timedelta:
        return timedelta(seconds=self.policy.windows.seconds_for(incident.incident_type))

    def absorbs(self, incident: IncidentState, at: datetime) -> bool:
        """True when the incident still takes anomalies seen at `at`: not resolved, last seen
        within its type's window, and younger than the maximum incident age."""
        if incident.status == IncidentStatus.RESOLVED:
            return False
        if at - incident.last_seen > self.window(incident):
            return False
        return (at - incident.first_seen).total_seconds() <= self.policy.max_incident_age_seconds

    def expire(self) -> list[str]:
        """Evicts incidents that can no longer absorb anything (as of the newest anomaly seen),
        and resolved ones once their flapping window has passed. Returns the evicted ids."""
        if self.watermark is None:
            return []
        now = self.watermark
        flapping = timedelta(seconds=self.policy.suppression.flapping.window_seconds)
        evicted = []
        for incident in list(self.incidents.values()):
            if incident.status == IncidentStatus.RESOLVED:
                done = incident.resolved_at is None or now - incident.resolved_at > flapping
            else:
                done = not self.absorbs(incident, now)
            if done:
                self._evict(incident)
                evicted.append(incident.incident_id)
        self._prune_meta(now)
        return evicted

    def _prune_meta(self, now: datetime) -> None:
        flapping = timedelta(seconds=self.policy.suppression.flapping.window_seconds)
        storm = timedelta(seconds=STORM_RATE_SECONDS)
        for table, keep in ((self.meta.new_incidents, storm), (self.meta.transitions, flapping)):
            for key in list(table):
                recent = [t for t in table[key] if now - t <= keep]
                if len(recent) != len(table[key]):
                    self._meta_dirty = True
                    if recent:
                        table[key] = recent
                    else:
                        del table[key]
        for key in list(self.meta.toggles):
            direction, times = self.meta.toggles[key]
            if not times or now - times[-1] > flapping:
                del self.meta.toggles[key]
                self._meta_dirty = True

    # --- anomalies ----------------------------------------------------------------------------

    def correlate(self, anomaly: EnrichedAnomaly) -> Correlated | None:
        """Files one anomaly into an incident; None for a redelivery of one already filed."""
        if anomaly.anomaly_id in self._absorbed:
            return None
        at = anomaly.detected_at
        if self.watermark is None or at > self.watermark:
            self.watermark = at
        suppressed_by, downgraded_by = self._suppression(anomaly)
        # The detector's own severity: the policy's severity_map is applied once, here, at incident
        # level (enrichment's escalations of the single anomaly are context, not a second raise).
        detected = anomaly.original_severity or anomaly.severity
        severity = detected.raised(-1) if downgraded_by else detected
        text = f"{anomaly.template or ''} {anomaly.message}"
        symptom = is_downstream_symptom(anomaly.incident_type, text)

        incident, how, path = self._find(anomaly, symptom)
        if incident is None:
            incident, how = self._open(anomaly)
        label = self._absorb(
            incident, anomaly, how=how, path=path, severity=severity, symptom=symptom, text=text,
            suppressed_by=suppressed_by, downgraded_by=downgraded_by,
        )
        return Correlated(
            change="created" if incident.version == 1 else "updated",
            incident=incident.to_incident(),
            label=label,
            how=how,
        )

    def _suppression(self, anomaly: EnrichedAnomaly) -> tuple[str | None, str | None]:
        """(suppressed_by, downgraded_by): a maintenance window wins, then the first matching rule."""
        suppression = self.policy.suppression
        for window in suppression.maintenance_windows:
            if window.covers(anomaly.ship_id, anomaly.device_id, anomaly.detected_at):
                return f"maintenance:{window.name}", None
        for rule in suppression.rules:
            if rule.match.matches(anomaly.incident_type.value, anomaly.device_id, anomaly.template or anomaly.message):
                if rule.action == "suppress":
                    return f"rule:{rule.name}", None
                return None, rule.name
        return None, None

    def _find(
        self, anomaly: EnrichedAnomaly, symptom: bool
    ) -> tuple[IncidentState | None, How, tuple[str, ...]]:
        ship, device, at = anomaly.ship_id, anomaly.device_id, anomaly.detected_at
        if self.policy.topology.enabled and symptom:
            # Farthest upstream first: the device that explains the most is the root cause.
            for root in (*self.topology.upstream(ship, device), device):
                found = self._root_cause_incident(ship, root, at)
                if found is not None:
                    path = self.topology.path(ship, device, root) if root != device else ()
                    return found, "topology" if root != device else "fingerprint", path
        incident_id = self._by_fingerprint.get(fingerprint_of(ship, anomaly.incident_type, device))
        if incident_id is not None:
            incident = self.incidents[incident_id]
            if self.absorbs(incident, at):
                return incident, "fingerprint", ()
            # Out of its window or too old: it stops absorbing and a new incident opens.
            self._unindex(incident)
        # An untyped anomaly (a severity or new-template verdict) on a device that already has an
        # open incident is more of that incident; a typed one names an untyped incident's type.
        if anomaly.incident_type == IncidentType.UNKNOWN:
            found = self._open_incident_rooted_at(ship, device, at)
            if found is not None:
                return found, "fingerprint", ()
        else:
            untyped = self._open_incident_rooted_at(ship, device, at, family="unknown")
            if untyped is not None:
                self._name_type(untyped, anomaly)
                return untyped, "fingerprint", ()
        return None, "created", ()

    def _open_incident_rooted_at(
        self, ship: str, device: str, at: datetime, family: str | None = None
    ) -> IncidentState | None:
        candidates = [
            self.incidents[i]
            for i in self._by_root.get((ship, device), ())
            if not self.incidents[i].storm
            and self.incidents[i].status != IncidentStatus.RESOLVED
            and (family is None or family_of(self.incidents[i].incident_type) == family)
            and self.absorbs(self.incidents[i], at)
        ]
        return max(candidates, key=lambda i: (i.last_seen, i.incident_id)) if candidates else None

    def _name_type(self, incident: IncidentState, anomaly: EnrichedAnomaly) -> None:
        """An incident opened by untyped anomalies takes the type of the first typed one."""
        self._unindex(incident)
        incident.incident_type = anomaly.incident_type
        incident.fingerprint = fingerprint_of(incident.ship_id, anomaly.incident_type, incident.root_cause_device)
        self._index(incident)
        self._event(
            incident, anomaly.detected_at, "typed",
            f"incident type set to {anomaly.incident_type.value} by {anomaly.detector} on {anomaly.device_id}",
            anomaly,
        )

    def _root_cause_incident(self, ship: str, device: str, at: datetime) -> IncidentState | None:
        candidates = [
            self.incidents[i]
            for i in self._by_root.get((ship, device), ())
            if not self.incidents[i].storm
            and family_of(self.incidents[i].incident_type) in ROOT_CAUSE_FAMILIES
            and self.absorbs(self.incidents[i], at)
        ]
        return min(candidates, key=lambda i: (i.first_seen, i.incident_id)) if candidates else None

    def _open(self, anomaly: EnrichedAnomaly) -> tuple[IncidentState, How]:
        """No incident takes the anomaly: re-root one below it, reopen a flapping one, fold it
        into the storm, or open a new one."""
        ship, device, at = anomaly.ship_id, anomaly.device_id, anomaly.detected_at
        fingerprint = fingerprint_of(ship, anomaly.incident_type, device)
        if self.policy.topology.enabled and family_of(anomaly.incident_type) in ROOT_CAUSE_FAMILIES:
            below = self._symptom_incident_below(ship, device, at)
            if below is not None:
                self._reroot(below, anomaly, fingerprint)
                return below, "rerooted"

        reopened = self._reopen_if_flapping(fingerprint, at)
        if reopened is not None:
            return reopened, "reopened"

        if self._storming(ship, at):
            return self._storm_incident(anomaly, fingerprint), "storm"

        incident = IncidentState(
            incident_id=incident_id_for(fingerprint, anomaly.anomaly_id),
            ship_id=ship,
            fingerprint=fingerprint,
            incident_type=anomaly.incident_type,
            root_cause_device=device,
            root_kind=self._kind(anomaly, device),
            first_seen=at,
            last_seen=at,
            created_at=self.clock(),
            updated_at=self.clock(),
        )
        incident.root_cause_reason = self._own_reason(anomaly, incident.root_kind)
        self.incidents[incident.incident_id] = incident
        self._index(incident)
        self._record_transition(fingerprint, at)
        return incident, "created"

    def _kind(self, anomaly: EnrichedAnomaly, device: str) -> str | None:
        kind = self.topology.kind_of(anomaly.ship_id, device)
        if kind is None and anomaly.context.device is not None and anomaly.context.device.device_id == device:
            kind = anomaly.context.device.kind
        return kind

    def _own_reason(self, anomaly: EnrichedAnomaly, kind: str | None) -> str:
        device = f"{anomaly.device_id} ({kind})" if kind else anomaly.device_id
        reason = f"{device} reported {anomaly.incident_type.value}"
        if self.policy.topology.enabled:
            reason += (
                f"; no device within {self.policy.topology.max_hops} hops upstream of it has an open "
                "link or network incident"
            )
        return reason

    def _symptom_incident_below(self, ship: str, device: str, at: datetime) -> IncidentState | None:
        candidates = [
            incident
            for incident in self.incidents.values()
            if incident.ship_id == ship
            and incident.all_symptoms
            and not incident.storm
            and incident.root_cause_device != device
            and self.absorbs(incident, at)
            and self.topology.is_upstream(ship, device, incident.root_cause_device)
        ]
        return min(candidates, key=lambda i: (i.first_seen, i.incident_id)) if candidates else None

    def _reroot(self, incident: IncidentState, anomaly: EnrichedAnomaly, fingerprint: str) -> None:
        """The upstream device reported after its downstream symptoms: it becomes the root, the
        incident keeps its id."""
        old_root = incident.root_cause_device
        path = self.topology.path(anomaly.ship_id, old_root, anomaly.device_id)
        self._unindex(incident)
        incident.root_cause_device = anomaly.device_id
        incident.root_kind = self._kind(anomaly, anomaly.device_id)
        incident.incident_type = anomaly.incident_type
        incident.fingerprint = fingerprint
        kind = f" ({incident.root_kind})" if incident.root_kind else ""
        incident.root_cause_reason = (
            f"re-rooted from {old_root} to {anomaly.device_id}{kind}: {anomaly.device_id} reported "
            f"{anomaly.incident_type.value} and {old_root} depends on it via {' -> '.join(path)}, so the "
            "earlier downstream anomalies are its symptoms"
        )
        self._index(incident)
        self._event(
            incident, anomaly.detected_at, "rerooted",
            f"root cause moved from {old_root} to {anomaly.device_id} (path {' -> '.join(path)})",
            anomaly,
        )

    def _reopen_if_flapping(self, fingerprint: str, at: datetime) -> IncidentState | None:
        incident_id = self._resolved_by_fingerprint.get(fingerprint)
        if incident_id is None:
            return None
        flapping = self.policy.suppression.flapping
        window = timedelta(seconds=flapping.window_seconds)
        recent = [t for t in self.meta.transitions.get(fingerprint, ()) if at - t <= window]
        if len(recent) < flapping.transitions:
            return None
        incident = self.incidents[incident_id]
        del self._resolved_by_fingerprint[fingerprint]
        incident.status = IncidentStatus.SUPPRESSED
        incident.suppressed_by = "flapping"
        incident.resolved_at = None
        # The reopened incident's window restarts now, not at its last anomaly before resolution.
        incident.last_seen = max(incident.last_seen, at)
        self._mark_flapping(
            incident, at,
            f"{len(recent)} open/resolve transitions within {flapping.window_seconds} s: reopened and "
            "held as one suppressed flapping incident instead of opening another",
        )
        self._index(incident)
        self._record_transition(fingerprint, at)
        return incident

    def _mark_flapping(self, incident: IncidentState, at: datetime, summary: str) -> None:
        incident.flapping = True
        self._event(incident, at, "flapping", summary)

    def _record_transition(self, fingerprint: str, at: datetime) -> None:
        self.meta.transitions.setdefault(fingerprint, []).append(at)
        self._meta_dirty = True

    def _storming(self, ship: str, at: datetime) -> bool:
        """Counts one more would-be new incident; True beyond the policy's rate per minute."""
        window = timedelta(seconds=STORM_RATE_SECONDS)
        recent = [t for t in self.meta.new_incidents.get(ship, ()) if at - t < window]
        recent.append(at)
        self.meta.new_incidents[ship] = recent
        self._meta_dirty = True
        return len(recent) > self.policy.suppression.storm.max_new_incidents_per_minute

    def _storm_incident(self, anomaly: EnrichedAnomaly, fingerprint: str) -> IncidentState:
        ship, at = anomaly.ship_id, anomaly.detected_at
        storm_id = self.meta.storm_incident.get(ship)
        storm = self.incidents.get(storm_id) if storm_id else None
        if storm is None or not self.absorbs(storm, at):
            storm_fingerprint = f"{ship}:{STORM_FAMILY}:{anomaly.device_id}"
            storm = IncidentState(
                incident_id=incident_id_for(storm_fingerprint, anomaly.anomaly_id),
                ship_id=ship,
                fingerprint=storm_fingerprint,
                incident_type=anomaly.incident_type,
                root_cause_device=anomaly.device_id,
                root_kind=self._kind(anomaly, anomaly.device_id),
                first_seen=at,
                last_seen=at,
                created_at=self.clock(),
                updated_at=self.clock(),
                storm=True,
                all_symptoms=False,
            )
            self.incidents[storm.incident_id] = storm
            self.meta.storm_incident[ship] = storm.incident_id
            self._meta_dirty = True
            self._index(storm)
        # Later anomalies of the folded fingerprint go straight here instead of counting again.
        storm.aliases.append(fingerprint)
        self._by_fingerprint[fingerprint] = storm.incident_id
        limit = self.policy.suppression.storm.max_new_incidents_per_minute
        storm.root_cause_reason = (
            f"incident storm: more than {limit} new incidents within {STORM_RATE_SECONDS} s on {ship}; "
            f"{len(storm.aliases)} would-be incidents are folded here until the rate drops"
        )
        self._event(storm, at, "storm", f"folded {fingerprint} into the storm incident", anomaly)
        return storm

    def _absorb(
        self,
        incident: IncidentState,
        anomaly: EnrichedAnomaly,
        *,
        how: How,
        path: tuple[str, ...],
        severity: Severity,
        symptom: bool,
        text: str,
        suppressed_by: str | None,
        downgraded_by: str | None,
    ) -> Label:
        at, device = anomaly.detected_at, anomaly.device_id
        created = incident.version == 0
        self._remember(incident, anomaly.anomaly_id)
        incident.anomaly_count += 1
        incident.first_seen = min(incident.first_seen, at)
        incident.last_seen = max(incident.last_seen, at)
        add_capped(incident.tracking_ids, anomaly.tracking_id, None, MAX_TRACKING_IDS)
        if len(incident.detectors) < MAX_DETECTORS:
            incident.detectors[anomaly.detector] = None
        if anomaly.service != "unknown" and len(incident.services) < MAX_SERVICES:
            incident.services[anomaly.service] = None
        new_device = device not in incident.affected_devices
        if new_device and len(incident.affected_devices) < MAX_AFFECTED_DEVICES:
            incident.affected_devices[device] = None
        incident.all_symptoms = incident.all_symptoms and symptom
        if severity.rank > incident.base_severity.rank or created:
            incident.base_severity = severity
        if (
            device == incident.root_cause_device
            and family_of(anomaly.incident_type) == family_of(incident.incident_type)
            and TYPE_PRECEDENCE.get(anomaly.incident_type, 0) > TYPE_PRECEDENCE.get(incident.incident_type, 0)
        ):
            incident.incident_type = anomaly.incident_type

        duplicate = self._add_evidence(incident, anomaly, at)
        if created:
            self._event(incident, at, "created", f"{_TYPE_LABEL[anomaly.incident_type]} on {device}: {_snippet(anomaly)}", anomaly)
        elif how == "topology" and new_device:
            root = incident.root_cause_device
            incident.root_cause_reason = (
                f"{root}{f' ({incident.root_kind})' if incident.root_kind else ''} has an open "
                f"{incident.incident_type.value} incident and {device} depends on it via {' -> '.join(path)}; "
                f"{len(incident.affected_devices) - 1} downstream device(s) show symptoms of it"
            )
            self._event(
                incident, at, "topology",
                f"{device} joined: its {anomaly.incident_type.value} is a symptom of {root} (path {' -> '.join(path)})",
                anomaly,
            )
        elif not duplicate:
            self._event(incident, at, "anomaly", f"{_TYPE_LABEL[anomaly.incident_type]} on {device}: {_snippet(anomaly)}", anomaly)

        self._apply_suppression(incident, anomaly, at, created, duplicate, suppressed_by, downgraded_by)
        self._device_flapping(incident, anomaly, at, text)
        self._escalate(incident, at)
        incident.title = self._title(incident)
        self._touch(incident)
        if suppressed_by:
            return "suppressed"
        if created:
            return "created"
        return "deduplicated" if duplicate else "updated"

    def _remember(self, incident: IncidentState, anomaly_id: str) -> None:
        remembered = incident.recent_anomaly_ids
        if len(remembered) == remembered.maxlen:
            oldest = remembered[0]
            if self._absorbed.get(oldest) == incident.incident_id:
                del self._absorbed[oldest]
        remembered.append(anomaly_id)
        self._absorbed[anomaly_id] = incident.incident_id

    def _add_evidence(self, incident: IncidentState, anomaly: EnrichedAnomaly, at: datetime) -> bool:
        """Adds or refreshes the evidence of the anomaly's signature; True when it is a repeat
        seen within the dedup TTL (counted, but no new timeline entry)."""
        detail = anomaly.template_id or anomaly.template or anomaly.metric or anomaly.detector
        signature = signature_of(anomaly.device_id, anomaly.incident_type, detail)
        previous = incident.evidence.get(signature)
        duplicate = previous is not None and (
            at - datetime.fromisoformat(previous["last_at"])
        ).total_seconds() <= self.policy.dedup_ttl_seconds
        entry = {
            "signature": signature,
            "anomaly_id": anomaly.anomaly_id,
            "tracking_id": anomaly.tracking_id,
            "device_id": anomaly.device_id,
            "incident_type": anomaly.incident_type.value,
            "severity": anomaly.severity.value,
            "detector": anomaly.detector,
            "score": anomaly.score,
            "template": anomaly.template,
            "metric": anomaly.metric,
            "value": anomaly.value,
            "message": anomaly.message[:512],
            "detail": anomaly.evidence,
            "count": (previous["count"] + 1) if previous else 1,
            "first_at": previous["first_at"] if previous else at.isoformat(),
            "last_at": at.isoformat(),
        }
        add_capped(incident.evidence, signature, entry, MAX_EVIDENCE)
        return duplicate

    def _apply_suppression(
        self,
        incident: IncidentState,
        anomaly: EnrichedAnomaly,
        at: datetime,
        created: bool,
        duplicate: bool,
        suppressed_by: str | None,
        downgraded_by: str | None,
    ) -> None:
        if downgraded_by and not duplicate:
            self._event(incident, at, "downgraded", f"{anomaly.severity.value} anomaly on {anomaly.device_id} downgraded by rule {downgraded_by}", anomaly)
        if suppressed_by:
            if created:
                incident.status = IncidentStatus.SUPPRESSED
                incident.suppressed_by = suppressed_by
            # A suppressed anomaly never hides an incident that real anomalies keep open.
            if created or not duplicate:
                self._event(incident, at, "suppressed", f"anomaly on {anomaly.device_id} suppressed by {suppressed_by}", anomaly)
        elif (
            incident.status == IncidentStatus.SUPPRESSED
            and incident.suppressed_by is not None
            and incident.suppressed_by.startswith(_AUTOMATIC_SUPPRESSION)
        ):
            self._event(incident, at, "unsuppressed", f"{anomaly.device_id} reported outside {incident.suppressed_by}: the incident is open again", anomaly)
            incident.status = IncidentStatus.OPEN
            incident.suppressed_by = None

    def _device_flapping(self, incident: IncidentState, anomaly: EnrichedAnomaly, at: datetime, text: str) -> None:
        """A device whose anomalies toggle down/up too often marks its incident as flapping."""
        direction = direction_of(text)
        if direction is None:
            return
        flapping = self.policy.suppression.flapping
        key = f"{anomaly.ship_id}/{anomaly.device_id}"
        last, times = self.meta.toggles.get(key, (None, []))
        if last == direction:
            return
        window = timedelta(seconds=flapping.window_seconds)
        times = [t for t in times if at - t <= window]
        if last is not None:
            times.append(at)
        self.meta.toggles[key] = (direction, times)
        self._meta_dirty = True
        if len(times) >= flapping.transitions and not incident.flapping:
            self._mark_flapping(
                incident, at,
                f"{anomaly.device_id} toggled up/down {len(times)} times within {flapping.window_seconds} s: "
                "held as one flapping incident",
            )

    def _escalate(self, incident: IncidentState, at: datetime) -> None:
        """Severity = the most severe anomaly, raised by the policy's severity_map rules."""
        severity = incident.base_severity
        applied = []
        for rule in self.policy.severity_map:
            when = rule.when
            if when.anomaly_count_gte is not None and incident.anomaly_count < when.anomaly_count_gte:
                continue
            if when.device_count_gte is not None and len(incident.affected_devices) < when.device_count_gte:
                continue
            if when.incident_types is not None and incident.incident_type not in when.incident_types:
                continue
            if when.root_device_kinds is not None and incident.root_kind not in when.root_device_kinds:
                continue
            if rule.raise_levels:
                severity = severity.raised(rule.raise_levels)
            if rule.at_least is not None and severity.rank < rule.at_least.rank:
                severity = rule.at_least
            applied.append(rule.name)
        for name in applied:
            if name not in incident.escalations:
                self._event(incident, at, "escalated", f"severity rule {name} applies")
        incident.escalations = applied
        incident.severity = severity

    def _title(self, incident: IncidentState) -> str:
        if incident.storm:
            title = f"Incident storm on {incident.ship_id}: {len(incident.aliases)} incidents folded"
        else:
            title = f"{_TYPE_LABEL[incident.incident_type]} on {incident.root_cause_device}"
            others = len(incident.affected_devices) - (incident.root_cause_device in incident.affected_devices)
            if others > 0:
                title += f" affecting {others} more device{'s' if others > 1 else ''}"
        if incident.flapping:
            title = f"Flapping: {title}"
        return title[:256]

    def _event(
        self, incident: IncidentState, at: datetime, kind: str, summary: str, anomaly: EnrichedAnomaly | None = None
    ) -> None:
        incident.timeline.append(TimelineEvent(
            at=at,
            kind=kind,
            summary=summary[:16384],
            tracking_id=anomaly.tracking_id if anomaly else None,
            device_id=anomaly.device_id if anomaly else None,
            actor=STAGE,
        ))

    # --- operator status ----------------------------------------------------------------------

    def apply_status(self, change: IncidentChange) -> bool:
        """Takes an operator's acknowledge/resolve/suppress/reopen; False when it changes nothing
        (an incident correlation no longer holds, or a status older than the one it has)."""
        theirs = change.incident
        incident = self.incidents.get(theirs.incident_id)
        if incident is None:
            return False
        if incident.operator_status_at is not None and theirs.updated_at < incident.operator_status_at:
            return False
        incident.operator_status_at = theirs.updated_at
        # Later updates must outrank the incident-api's own version bump for this status.
        incident.version = max(incident.version, theirs.version)
        before, after = incident.status, theirs.status
        actor = change.actor or "operator"
        incident.status = after
        if after == IncidentStatus.RESOLVED:
            if before != IncidentStatus.RESOLVED:
                self._unindex(incident)
                incident.resolved_at = theirs.updated_at
                self._resolved_by_fingerprint[incident.fingerprint] = incident.incident_id
                self._record_transition(incident.fingerprint, theirs.updated_at)
        else:
            if before == IncidentStatus.RESOLVED:
                incident.resolved_at = None
                if self._resolved_by_fingerprint.get(incident.fingerprint) == incident.incident_id:
                    del self._resolved_by_fingerprint[incident.fingerprint]
                self._index(incident)
                self._record_transition(incident.fingerprint, theirs.updated_at)
            if after == IncidentStatus.SUPPRESSED:
                incident.suppressed_by = theirs.suppressed_by or f"operator:{actor}"
            else:
                incident.suppressed_by = None
        incident.timeline.append(TimelineEvent(
            at=theirs.updated_at, kind="status", summary=f"{actor} set the status to {after.value}", actor=actor,
        ))
        self._dirty[incident.incident_id] = None
        return True


def _snippet(anomaly: EnrichedAnomaly) -> str:
    if anomaly.metric is not None and anomaly.value is not None:
        return f"{anomaly.metric}={anomaly.value:g} ({anomaly.detector})"
    text = anomaly.message or anomaly.template or anomaly.detector
    return text[:200]
