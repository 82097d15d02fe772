"""`aiops eval detect [SCENARIO...]`: runs labelled ship scenarios through a real node and scores
the incidents it raises against the faults' ground truth.

For each scenario a fresh `aiops up` runs in a temporary data dir on free ports (every role, its
own NATS and chDB); the simulated ship is replayed into it at `--speed` simulated seconds per real
second, and the incidents are read back from the API once the pipeline is quiet.

Time, honestly (docs/DETECTION.md, "Evaluating detection"):
- The metric detectors (thresholds' hold times, EWMA/MAD hold, staleness) read the samples' own
  timestamps, which stay in simulated time: they run exactly as on a ship.
- Log detectors' rate buckets and correlation (windows, dedup TTL, storm, flapping, incident age)
  read this node's clock. The node under evaluation therefore runs the production policy with
  those durations divided by the speed (and the storm rate multiplied by it), so each means in
  simulated time what it means on board. What cannot be scaled (integer seconds rounded,
  constants in code) is listed in the report as `unscaled`.
- Incident times are mapped back to simulated time: sim = scenario start + (wall - replay start)
  x speed; the pipeline's own latency is multiplied by the speed too (milliseconds, so well under
  a simulated second at the default speed).

Matching an incident to a fault: the incident's simulated [first_seen, last_seen] overlaps
[fault start, fault end + grace], its root or an affected device is one of the fault's devices,
and its type is in the fault's type family (services/correlation/fingerprint.FAMILY_OF, so a
link fault labelled link_degradation matches a comms_outage incident: correlation itself treats
the two as one incident). Strict type equality is reported separately. An incident that overlaps
a fault on its devices but in another family is `related` (a side effect, neither a hit nor a
false incident); one that matches no fault at all is a false incident.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from aiops_core.policy import load_policy
from aiops_core.settings import Settings

DEFAULT_SPEED = 20.0
# A single-fault scenario: lead-in (detectors warm up), the fault, then a quiet tail.
DEFAULT_DURATION_S = 1500.0
BACKGROUND_DURATION_S = 7200.0
# An incident may open after its fault ends (hold times of up to 5 minutes, late symptoms).
DEFAULT_GRACE_S = 300.0
# Fault details are drawn from the seed and the fault's start: a fixed start makes a run repeatable.
DEFAULT_START = "2026-03-02T09:00:00Z"
# The pipeline is taken as done when the incidents have not changed for this long (real seconds).
QUIET_SECONDS = 6.0
SETTLE_TIMEOUT_SECONDS = 180.0
PAGE = 500
NODE_START_ATTEMPTS = 3


# --- results ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IncidentSeen:
    """An incident as read from the API, its times mapped to simulated time."""

    incident_id: str
    incident_type: str
    root_device: str
    devices: tuple[str, ...]
    title: str
    first_seen: datetime
    last_seen: datetime
    anomaly_count: int
    severity: str = ""
    detectors: tuple[str, ...] = ()
    # Simulated times of its timeline entries (the first anomaly of each signature).
    event_times: tuple[datetime, ...] = ()


@dataclass(frozen=True)
class FaultLabel:
    name: str
    start: datetime
    end: datetime
    devices: tuple[str, ...]
    expected_incident_type: str
    root_device: str


@dataclass
class ScenarioRun:
    scenario: str
    start: datetime
    duration_s: float
    faults: list[FaultLabel]
    incidents: list[IncidentSeen]
    sent_syslog: int = 0
    sent_metrics: int = 0


@dataclass
class FaultResult:
    scenario: str
    fault: str
    detected: bool
    incidents: int
    related: int
    time_to_detect_s: float | None
    incident_type: str | None
    expected_type: str
    type_exact: bool | None
    root_device: str | None
    expected_root: str
    root_correct: bool | None


@dataclass
class DetectReport:
    speed: float
    grace_s: float
    faults: list[FaultResult]
    recall: float | None
    incidents_per_fault: float | None
    time_to_detect_median_s: float | None
    time_to_detect_max_s: float | None
    root_device_accuracy: float | None
    type_accuracy_strict: float | None
    background_hours: float
    false_rate_from: str
    # Every incident that matches no fault, in every scenario (the rate uses `false_rate_from`).
    false_incidents: int
    false_incidents_per_hour: float | None
    # Per hour of fault-free time, by the incident's severity (low ones are informational).
    false_incidents_per_hour_by_severity: dict[str, float] = field(default_factory=dict)
    false_incident_list: list[dict[str, Any]] = field(default_factory=list)
    scaled_policy: dict[str, Any] = field(default_factory=dict)
    unscaled: list[str] = field(default_factory=list)


# --- scoring (pure) --------------------------------------------------------------------------------
def _family(incident_type: str) -> str:
    from services.correlation.fingerprint import family_of

    return family_of(incident_type)


def _overlaps(incident: IncidentSeen, fault: FaultLabel, grace: timedelta) -> bool:
    on_devices = incident.root_device in fault.devices or any(d in fault.devices for d in incident.devices)
    return on_devices and incident.first_seen <= fault.end + grace and incident.last_seen >= fault.start


def _detected_at(incident: IncidentSeen, fault: FaultLabel) -> datetime:
    """When the incident first showed this fault: its first anomaly at or after the fault's start
    (an incident already open on the device before the fault counts from its first new entry)."""
    if incident.first_seen >= fault.start:
        return incident.first_seen
    later = [t for t in incident.event_times if t >= fault.start]
    return min(later) if later else incident.last_seen


def score(runs: list[ScenarioRun], *, speed: float, grace_s: float = DEFAULT_GRACE_S) -> DetectReport:
    """Per-fault recall, incidents per fault, time to detect, root and type accuracy, and the false
    incidents per hour of fault-free time, by the matching rule of the module docstring."""
    grace = timedelta(seconds=grace_s)
    results: list[FaultResult] = []
    false: list[dict[str, Any]] = []
    background_s = 0.0
    for run in runs:
        fault_s = sum((f.end - f.start).total_seconds() for f in run.faults)
        background_s += max(0.0, run.duration_s - fault_s)
        explained: set[str] = set()
        for fault in run.faults:
            overlapping = [i for i in run.incidents if _overlaps(i, fault, grace)]
            matched = [i for i in overlapping if _family(i.incident_type) == _family(fault.expected_incident_type)]
            explained.update(i.incident_id for i in overlapping)
            main = max(matched, key=lambda i: (i.anomaly_count, -i.first_seen.timestamp()), default=None)
            ttd = None
            if matched:
                first = min(_detected_at(i, fault) for i in matched)
                ttd = max(0.0, (first - fault.start).total_seconds())
            results.append(FaultResult(
                scenario=run.scenario, fault=fault.name, detected=bool(matched), incidents=len(matched),
                related=len(overlapping) - len(matched), time_to_detect_s=None if ttd is None else round(ttd, 1),
                incident_type=main.incident_type if main else None, expected_type=fault.expected_incident_type,
                type_exact=(main.incident_type == fault.expected_incident_type) if main else None,
                root_device=main.root_device if main else None, expected_root=fault.root_device,
                root_correct=(main.root_device == fault.root_device) if main else None,
            ))
        for incident in run.incidents:
            if incident.incident_id not in explained:
                false.append({
                    "scenario": run.scenario, "incident_id": incident.incident_id, "type": incident.incident_type,
                    "root_device": incident.root_device, "severity": incident.severity,
                    "detectors": list(incident.detectors), "title": incident.title,
                    "first_seen": incident.first_seen.isoformat(), "anomalies": incident.anomaly_count,
                })
    detected = [r for r in results if r.detected]
    ttds = [r.time_to_detect_s for r in detected if r.time_to_detect_s is not None]
    # The rate comes from the fault-free scenarios when there are any: the fault scenarios all
    # share one seed's background, so their quiet stretches repeat the same minutes of ship life.
    quiet_runs = {run.scenario for run in runs if not run.faults}
    if quiet_runs:
        background_s = sum(run.duration_s for run in runs if not run.faults)
        rated = [f for f in false if f["scenario"] in quiet_runs]
    else:
        rated = false
    hours = background_s / 3600
    return DetectReport(
        speed=speed,
        grace_s=grace_s,
        faults=results,
        recall=_share(len(detected), len(results)),
        incidents_per_fault=round(statistics.fmean(r.incidents for r in detected), 3) if detected else None,
        time_to_detect_median_s=round(statistics.median(ttds), 1) if ttds else None,
        time_to_detect_max_s=max(ttds) if ttds else None,
        root_device_accuracy=_share(sum(bool(r.root_correct) for r in detected), len(detected)),
        type_accuracy_strict=_share(sum(bool(r.type_exact) for r in detected), len(detected)),
        background_hours=round(hours, 3),
        false_rate_from="fault-free scenarios" if quiet_runs else "fault-free time of the fault scenarios",
        false_incidents=len(false),
        false_incidents_per_hour=round(len(rated) / hours, 3) if hours > 0 else None,
        false_incidents_per_hour_by_severity={
            severity: round(sum(f["severity"] == severity for f in rated) / hours, 3)
            for severity in ("low", "medium", "high", "critical")
        } if hours > 0 else {},
        false_incident_list=false,
    )


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- the node's policy in simulated time --------------------------------------------------------------
def scaled_policy_overrides(policies_dir: Path, ship_id: str, speed: float) -> tuple[dict[str, Any], list[str]]:
    """Overrides that make the node's wall-clock durations mean, in simulated time, what the
    production policy means on board; and what stays unscaled (or is only approximately scaled)."""
    policy = load_policy(policies_dir, ship_id)
    correlate, detect = policy.correlate, policy.detect

    def shrink(seconds: int) -> int:
        return max(1, round(seconds / speed))

    windows = {k: shrink(v) for k, v in correlate.windows.model_dump().items() if v is not None}
    bucket = shrink(detect.rate_spike.bucket_seconds)
    overrides = {
        "correlate": {
            "windows": windows,
            "dedup_ttl_seconds": shrink(correlate.dedup_ttl_seconds),
            "max_incident_age_seconds": shrink(correlate.max_incident_age_seconds),
            "suppression": {
                "storm": {"max_new_incidents_per_minute": math.ceil(correlate.suppression.storm.max_new_incidents_per_minute * speed)},
                "flapping": {"window_seconds": shrink(correlate.suppression.flapping.window_seconds)},
            },
        },
        "detect": {
            "rate_spike": {"bucket_seconds": bucket},
            "rare_template": {"min_age_seconds": shrink(detect.rare_template.min_age_seconds)},
        },
    }
    unscaled = [
        "rate-spike and rare-template repeat/hour constants in code (wall clock)",
        "enrichment history windows (1 h / 24 h of wall clock): escalation counts only",
    ]
    if bucket * speed != detect.rate_spike.bucket_seconds:
        unscaled.append(
            f"rate_spike.bucket_seconds: {bucket} s of wall clock is {bucket * speed:g} simulated s "
            f"(policy {detect.rate_spike.bucket_seconds} s)"
        )
    return overrides, unscaled


def write_eval_policies(source: Path, target: Path, ship_id: str, overrides: dict[str, Any]) -> None:
    """A copy of the policies with the overrides merged into the ship's own override file."""
    shutil.copytree(source, target)
    ship_file = target / "ships" / f"{ship_id}.yaml"
    ship_file.parent.mkdir(parents=True, exist_ok=True)
    existing = yaml.safe_load(ship_file.read_text(encoding="utf-8")) if ship_file.exists() else {}
    ship_file.write_text(yaml.safe_dump(_merge(existing or {}, overrides), sort_keys=False), encoding="utf-8")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


# --- running one scenario against a node ---------------------------------------------------------------
def run_scenario(
    name: str, *, speed: float, duration_s: float, seed: int, start: datetime, policies: Path, work_dir: Path,
    progress=None,
) -> ScenarioRun:
    from services.simulator import build_scenario
    from services.tools.local_node import start_local_node, stop_local_node
    from services.tools.scenario import send_events

    scenario = build_scenario(name, start=start, duration_s=duration_s, seed=seed, speed=speed)
    # Embedded stores and no LLM: the insight path is not measured here and must not slow the node.
    env = {"POLICIES_DIR": str(policies), "SHIP_ID": scenario.ship_id, "NATS_URL": "", "CLICKHOUSE_DSN": "",
           "QDRANT_URL": "", "OLLAMA_URL": ""}
    node = None
    for attempt in range(1, NODE_START_ATTEMPTS + 1):
        try:
            node = start_local_node(work_dir / f"{name}-{attempt}", env=env)
            break
        except RuntimeError as exc:
            # chDB's first migration can time out on a loaded machine: a fresh data dir and a retry.
            if attempt == NODE_START_ATTEMPTS:
                raise
            if progress:
                progress(f"{name}: node did not start ({str(exc).splitlines()[0]}), retrying")
    assert node is not None
    try:
        if progress:
            progress(f"{name}: node up on :{node.api_port}, replaying {duration_s:.0f} s at x{speed:g}")
        sent = asyncio.run(send_events(
            scenario, url=node.url, syslog=node.syslog, token=node.token(), syslog_over="http",
            flush_seconds=1.0 / speed,
        ))
        with httpx.Client(base_url=node.url, headers={"authorization": f"Bearer {node.token()}"}, timeout=30.0) as client:
            raw = _settled_incidents(client)
            details = {i["incident_id"]: i for i in raw}

        def simulated(value: str) -> datetime:
            wall = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return scenario.start + (wall - sent.started_at) * speed

        incidents = [
            IncidentSeen(
                incident_id=i["incident_id"], incident_type=i["incident_type"], root_device=i["root_cause_device"],
                devices=tuple(i.get("affected_devices") or ()), title=i.get("title", ""),
                first_seen=simulated(i["first_seen"]), last_seen=simulated(i["last_seen"]),
                anomaly_count=int(i.get("anomaly_count", 0)), severity=i.get("severity", ""),
                detectors=tuple(i.get("detectors") or ()),
                event_times=tuple(simulated(e["at"]) for e in i.get("timeline") or () if e.get("at")),
            )
            for i in details.values()
        ]
    finally:
        stop_local_node(node)
    faults = [
        FaultLabel(f.name, f.start, f.end, tuple(f.devices), f.expected_incident_type, f.root_device)
        for f in scenario.faults
    ]
    return ScenarioRun(name, scenario.start, duration_s, faults, incidents, sent.syslog, sent.metric)


def _settled_incidents(client: httpx.Client) -> list[dict[str, Any]]:
    """Every incident, once the list has stopped changing for QUIET_SECONDS."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    last, quiet_since = None, time.monotonic()
    incidents: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        incidents = _all_incidents(client)
        signature = sorted((i["incident_id"], i["version"], i["anomaly_count"]) for i in incidents)
        if signature != last:
            last, quiet_since = signature, time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_SECONDS:
            break
        time.sleep(1.0)
    return incidents


def _all_incidents(client: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = client.get("/api/v3/incidents", params={"limit": PAGE, "offset": offset})
        response.raise_for_status()
        body = response.json()
        items += body["items"]
        offset += PAGE
        if offset >= body["total"]:
            return items


# --- command ---------------------------------------------------------------------------------------------
def _default_scenarios() -> list[str]:
    from services.simulator import FAULTS

    return [*FAULTS, "background"]


def save_runs(path: Path, runs: list[ScenarioRun], speed: float) -> None:
    """The raw runs (labels and incidents in simulated time), to score again without a node."""
    path.write_bytes(orjson.dumps({"speed": speed, "runs": [asdict(r) for r in runs]}, option=orjson.OPT_INDENT_2))


def load_runs(path: Path) -> tuple[list[ScenarioRun], float]:
    data = orjson.loads(path.read_bytes())

    def when(value: str) -> datetime:
        return datetime.fromisoformat(value)

    runs = []
    for r in data["runs"]:
        faults = [FaultLabel(f["name"], when(f["start"]), when(f["end"]), tuple(f["devices"]),
                             f["expected_incident_type"], f["root_device"]) for f in r["faults"]]
        incidents = [
            IncidentSeen(**{**i, "devices": tuple(i["devices"]), "detectors": tuple(i["detectors"]),
                            "first_seen": when(i["first_seen"]), "last_seen": when(i["last_seen"]),
                            "event_times": tuple(when(t) for t in i["event_times"])})
            for i in r["incidents"]
        ]
        runs.append(ScenarioRun(r["scenario"], when(r["start"]), r["duration_s"], faults, incidents,
                                r["sent_syslog"], r["sent_metrics"]))
    return runs, float(data["speed"])


def evaluate(
    scenarios: list[str], *, speed: float, duration_s: float | None, seed: int, start: datetime,
    grace_s: float = DEFAULT_GRACE_S, progress=None, save: Path | None = None,
) -> DetectReport:
    settings = Settings()
    overrides, unscaled = scaled_policy_overrides(settings.policies_dir, settings.ship_id, speed)
    runs: list[ScenarioRun] = []
    with tempfile.TemporaryDirectory(prefix="aiops-eval-detect-") as tmp:
        policies = Path(tmp) / "policies"
        write_eval_policies(settings.policies_dir, policies, settings.ship_id, overrides)
        for name in scenarios:
            length = duration_s or (BACKGROUND_DURATION_S if name in ("background", "mixed") else DEFAULT_DURATION_S)
            runs.append(run_scenario(
                name, speed=speed, duration_s=length, seed=seed, start=start, policies=policies, work_dir=Path(tmp),
                progress=progress,
            ))
            if progress:
                progress(f"{name}: {len(runs[-1].incidents)} incidents from {runs[-1].sent_syslog} lines and "
                         f"{runs[-1].sent_metrics} samples")
            if save:
                save_runs(save, runs, speed)
    report = score(runs, speed=speed, grace_s=grace_s)
    report.scaled_policy, report.unscaled = overrides, unscaled
    return report


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def render(report: DetectReport) -> str:
    lines = [
        f"{'scenario':28} {'fault':28} {'hit':4} {'inc':>3} {'rel':>3} {'ttd':>7}  {'type (expected)':38} root (expected)",
    ]
    for r in report.faults:
        kind = f"{r.incident_type or '-'} ({r.expected_type})"
        root = f"{r.root_device or '-'} ({r.expected_root})"
        lines.append(
            f"{r.scenario:28} {r.fault:28} {'yes' if r.detected else 'NO':4} {r.incidents:>3} {r.related:>3} "
            f"{_fmt(r.time_to_detect_s, 's'):>7}  {kind:38} {root}"
        )
    lines += [
        "",
        f"recall {_fmt(report.recall)}   incidents per detected fault {_fmt(report.incidents_per_fault)}   "
        f"time to detect median {_fmt(report.time_to_detect_median_s, 's')} max {_fmt(report.time_to_detect_max_s, 's')}",
        f"root-device accuracy {_fmt(report.root_device_accuracy)}   strict type accuracy {_fmt(report.type_accuracy_strict)}",
        f"false incidents: {report.false_incidents} in all; per hour of {report.false_rate_from} "
        f"({report.background_hours:g} h): {_fmt(report.false_incidents_per_hour)} ("
        + ", ".join(f"{k} {v:g}" for k, v in report.false_incidents_per_hour_by_severity.items()) + ")",
    ]
    for f in report.false_incident_list:
        lines.append(
            f"  false: [{f['scenario']}] {f['severity']} {f['type']} on {f['root_device']} "
            f"({', '.join(f['detectors'])}, {f['anomalies']} anomalies): {f['title']}"
        )
    lines.append(f"speed x{report.speed:g}; node policy durations divided by the speed; unscaled: "
                 + "; ".join(report.unscaled))
    return "\n".join(lines)


def cmd_eval_detect(args: argparse.Namespace) -> int:
    from services.simulator import SCENARIOS

    scenarios = args.scenarios or _default_scenarios()
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        print(f"eval detect: unknown scenario(s) {', '.join(unknown)}; see `aiops scenario list`", file=sys.stderr)
        return 2
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")).astimezone(UTC)

    def progress(message: str) -> None:
        print(f"eval detect: {message}", file=sys.stderr, flush=True)

    if args.rescore:
        runs, speeds = [], set()
        for path in args.rescore:
            saved, speed = load_runs(Path(path))
            runs += saved
            speeds.add(speed)
        if len(speeds) != 1:
            print(f"eval detect: saved runs at different speeds {sorted(speeds)}", file=sys.stderr)
            return 2
        settings = Settings()
        report = score(runs, speed=speed, grace_s=args.grace)
        report.scaled_policy, report.unscaled = scaled_policy_overrides(settings.policies_dir, settings.ship_id, speed)
    else:
        report = evaluate(scenarios, speed=args.speed, duration_s=args.duration, seed=args.seed, start=start,
                          grace_s=args.grace, progress=progress, save=Path(args.save) if args.save else None)
    if args.json:
        sys.stdout.write(orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render(report))
    return 0


def register_eval(eval_sub: argparse._SubParsersAction) -> None:
    parser = eval_sub.add_parser("detect", help="labelled ship scenarios through a real node: recall, false incidents, time to detect")
    parser.add_argument("scenarios", nargs="*", help="default: every single-fault scenario and background")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="simulated seconds per real second")
    parser.add_argument("--duration", type=float, default=None,
                        help=f"simulated seconds per scenario (default {DEFAULT_DURATION_S:g}, background {BACKGROUND_DURATION_S:g})")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default=DEFAULT_START, help="simulated start (ISO 8601 with zone)")
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE_S, help="seconds after a fault an incident may still open")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", default=None, help="also write the raw runs (labels, incidents) to this file")
    parser.add_argument("--rescore", nargs="+", default=None, metavar="FILE",
                        help="score runs saved with --save (one speed) instead of running nodes")
    parser.set_defaults(func=cmd_eval_detect)
