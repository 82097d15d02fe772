"""The chaos run's verdict, from what was sent and what the stores hold: pure counting.

- every accepted log is archived exactly once (`logs_raw` FINAL, by tracking_id);
- every fault line is exactly one anomaly, filed in its fault's incident (`anomalies` by tracking_id);
- every fault is exactly one incident (by root device) counting each of its lines once; any other
  incident is an extra one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.chaos.stream import FAULTS, ChaosEvent


@dataclass
class Tally:
    lost: Counter = field(default_factory=Counter)
    duplicated: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    @property
    def lost_total(self) -> int:
        return sum(self.lost.values())

    @property
    def duplicated_total(self) -> int:
        return sum(self.duplicated.values())

    def summary(self) -> str:
        return f"lost={self.lost_total} duplicated={self.duplicated_total}"

    def add(self, other: Tally) -> Tally:
        return Tally(self.lost + other.lost, self.duplicated + other.duplicated, self.notes + other.notes)


def tally(
    events: list[ChaosEvent],
    accepted: Mapping[int, str],
    archived: Mapping[str, int],
    anomalies: Iterable[Mapping[str, Any]],
    incidents: Iterable[Mapping[str, Any]],
) -> Tally:
    """`accepted`: event index → tracking_id the node answered 202 with; `archived`: tracking_id →
    rows in logs_raw FINAL; `anomalies` rows have tracking_id, anomaly_id, incident_id;
    `incidents` rows have incident_id, root_cause_device, incident_type, anomaly_count."""
    result = Tally()
    result.lost["never_accepted"] = sum(1 for e in events if e.index not in accepted)
    sent_ids = set(accepted.values())
    result.lost["logs"] = sum(1 for tid in sent_ids if archived.get(tid, 0) == 0)
    result.duplicated["logs"] = sum(n - 1 for tid, n in archived.items() if n > 1)
    # A row no 202 answered for is a second copy of a resent batch.
    result.duplicated["logs_unrequested"] = sum(n for tid, n in archived.items() if tid not in sent_ids)

    fault_of = {accepted[e.index]: e.fault for e in events if e.fault and e.index in accepted}
    rows_by_tid: dict[str, list[Mapping[str, Any]]] = {}
    for row in anomalies:
        rows_by_tid.setdefault(row["tracking_id"], []).append(row)
    result.lost["anomalies"] = sum(1 for tid in fault_of if tid not in rows_by_tid)
    result.duplicated["anomalies"] = sum(len(rows) - 1 for tid, rows in rows_by_tid.items() if tid in fault_of)
    spurious = [tid for tid in rows_by_tid if tid not in fault_of]
    result.duplicated["anomalies_spurious"] = sum(len(rows_by_tid[tid]) for tid in spurious)

    by_device: dict[str, list[Mapping[str, Any]]] = {}
    for incident in incidents:
        by_device.setdefault(incident["root_cause_device"], []).append(incident)
    expected_lines = Counter(fault_of.values())
    for spec in FAULTS:
        found = by_device.pop(spec.device_id, [])
        if not found:
            result.lost["incidents"] += 1
            result.notes.append(f"fault {spec.name}: no incident rooted at {spec.device_id}")
            continue
        if len(found) > 1:
            result.duplicated["incidents"] += len(found) - 1
            result.notes.append(f"fault {spec.name}: {len(found)} incidents rooted at {spec.device_id}")
        incident = found[0]
        counted, expected = int(incident["anomaly_count"]), expected_lines[spec.name]
        if len(found) == 1 and counted != expected:
            key = "incident_anomaly_count"
            (result.duplicated if counted > expected else result.lost)[key] += abs(counted - expected)
            result.notes.append(f"fault {spec.name}: incident counts {counted} anomalies, {expected} sent")
        ids = {i["incident_id"] for i in found}
        misfiled = [r for tid, f in fault_of.items() if f == spec.name for r in rows_by_tid.get(tid, [])
                    if r["incident_id"] not in ids]
        if misfiled:
            result.lost["anomalies_misfiled"] += len(misfiled)
            result.notes.append(f"fault {spec.name}: {len(misfiled)} anomalies filed elsewhere")
    for device, extra in sorted(by_device.items()):
        result.duplicated["incidents_spurious"] += len(extra)
        result.notes.append(f"unexpected incident(s) rooted at {device}: {[i['incident_type'] for i in extra]}")
    return result
