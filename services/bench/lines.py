"""The bench's syslog traffic: the demo ship's own background lines, and fault lines the policy's
log patterns detect, in the vendor formats the simulator renders.

Normal lines are background lines that neither a log pattern nor the syslog-severity map would
flag; anomalous lines are the fault scenarios' lines that a log pattern flags (and no ignore
pattern clears). They come from many devices and every fault, so correlation sees the fan-in
of a real fault (a modem, the firewall, switches, servers, POS terminals) rather than one
device repeating itself. The pool is deterministic: a fixed start and seed give the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aiops_core.policy import DetectPolicy
from services.anomaly_detection.detectors.logs import PatternDetector
from services.bench.pool import LinePool, pool_path
from services.ingest.syslog import SyslogParseError, level_of, parse_syslog
from services.simulator import FAULTS, build_scenario

# A fixed simulated start: the pool (and its cache file) is the same on every run.
POOL_START = datetime(2025, 1, 1, tzinfo=UTC)
POOL_SEED = 7
BACKGROUND_SECONDS = 3600.0
FAULT_SCENARIO_SECONDS = 900.0


def build_pool(policy: DetectPolicy) -> LinePool:
    """Renders the simulator's background and fault scenarios and sorts their lines by what the
    policy makes of them."""
    patterns = PatternDetector(policy.log_patterns, policy.ignore_patterns)

    def message_and_level(payload: bytes) -> tuple[str, str] | None:
        try:
            parsed = parse_syslog(payload, received_at=POOL_START)
        except SyslogParseError:
            return None
        return parsed.message, level_of(parsed.severity)

    normal: list[bytes] = []
    background = build_scenario("background", start=POOL_START, duration_s=BACKGROUND_SECONDS, seed=POOL_SEED)
    for event in background.events():
        if event.kind != "syslog" or b"\n" in event.payload:
            continue
        seen = message_and_level(event.payload)
        if seen is None:
            continue
        message, level = seen
        if patterns.detect(message) is None and policy.syslog_severity.severity_for(level) is None:
            normal.append(event.payload)

    anomalous: list[bytes] = []
    for fault in sorted(FAULTS):
        scenario = build_scenario(fault, start=POOL_START, duration_s=FAULT_SCENARIO_SECONDS, seed=POOL_SEED)
        for event in scenario.events():
            if event.kind != "syslog" or event.fault is None or b"\n" in event.payload:
                continue
            seen = message_and_level(event.payload)
            if seen is not None and patterns.detect(seen[0]) and patterns.ignored_by(seen[0]) is None:
                anomalous.append(event.payload)
    return LinePool(tuple(normal), tuple(_interleaved_by_device(anomalous)))


def _interleaved_by_device(lines: list[bytes]) -> list[bytes]:
    """Round-robin over the faults' lines so consecutive anomalies come from different faults
    (one fault's burst would otherwise make every anomaly of a run hit one incident)."""
    by_host: dict[bytes, list[bytes]] = {}
    for line in lines:
        by_host.setdefault(_host_key(line), []).append(line)
    queues = list(by_host.values())
    out: list[bytes] = []
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def _host_key(line: bytes) -> bytes:
    try:
        parsed = parse_syslog(line, received_at=POOL_START)
    except SyslogParseError:
        return b""
    return (parsed.hostname or "").encode()


def load_or_build_pool(cache_dir: Path, policy: DetectPolicy) -> LinePool:
    path = pool_path(cache_dir)
    if path.exists():
        return LinePool.read(path)
    pool = build_pool(policy)
    pool.write(path)
    return pool
