"""`aiops eval lines FILE`: precision, recall and F1 of the per-line anomaly decision on lines
labelled in the loghub BGL convention.

Each line's first whitespace-separated token is its label (`-` normal, anything else anomalous,
e.g. BGL's alert category or a simulated fault's name); the rest is the log line. The lines are
streamed in file order through the anomaly-detection role's own handler (`LogAnalyzer`, the
node's detect policy), which never sees a label: the decision for a line is positive when the
handler emits an anomaly for it.

How a line becomes the handler's LogEntry:
- a syslog line (it starts with `<PRI>`, as `aiops scenario export` writes them) goes through
  the ingest role's parser and mapping (device from the inventory by hostname, level from the
  PRI severity), exactly as a datagram would;
- any other line (BGL, application logs) is taken whole as the message; its level is the first
  token that is a level name (BGL's INFO/FATAL/..., any case), else info; its device is
  `eval-source`;
- the line's own time is the event and the ingestion time (a leading 10-digit epoch, BGL's
  second field, or the syslog timestamp), else one second per line, so the time-based detectors
  (rate spike, rare template) see the file's timeline, not the speed of the replay.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from aiops_core.devices import DeviceRegistry
from aiops_core.models import LogEntry, LogLevel, new_tracking_id
from aiops_core.policy import load_policy
from aiops_core.settings import Settings
from services.simulator.inventory import load_inventory, registry_devices
from services.anomaly_detection.handlers import LogAnalyzer
from services.ingest.handlers import log_from_syslog
from services.ingest.syslog import SyslogParseError, parse_syslog

NORMAL = "-"
DEFAULT_DEVICE = "eval-source"
# Lines without a time of their own are spaced this far apart.
LINE_SPACING = timedelta(seconds=1)
_SYSLOG = re.compile(r"^<\d{1,3}>")
_EPOCH = re.compile(r"^\d{10}$")
_LEVEL_WORDS: dict[str, LogLevel] = {
    "emerg": LogLevel.EMERGENCY, "emergency": LogLevel.EMERGENCY, "panic": LogLevel.EMERGENCY,
    "alert": LogLevel.ALERT,
    "fatal": LogLevel.CRITICAL, "crit": LogLevel.CRITICAL, "critical": LogLevel.CRITICAL,
    "severe": LogLevel.CRITICAL, "failure": LogLevel.CRITICAL,
    "err": LogLevel.ERROR, "error": LogLevel.ERROR,
    "warn": LogLevel.WARNING, "warning": LogLevel.WARNING,
    "notice": LogLevel.NOTICE,
    "info": LogLevel.INFO, "information": LogLevel.INFO,
    "debug": LogLevel.DEBUG, "trace": LogLevel.DEBUG,
}
_FIRST_SECOND = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class LinesReport:
    lines: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    unparsed: int = 0
    # Positive decisions by the winning detector, split into (true, false) positives.
    by_detector: dict[str, list[int]] = field(default_factory=dict)
    # Recall per anomalous label: label -> [detected lines, lines].
    by_label: dict[str, list[int]] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def labelled(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(label, line) of every non-blank line."""
    for raw in lines:
        text = raw.rstrip("\r\n")
        if not text.strip():
            continue
        label, _, rest = text.lstrip().partition(" ")
        yield label, rest


def level_in(line: str) -> LogLevel:
    for token in line.split():
        level = _LEVEL_WORDS.get(token.lower())
        if level is not None:
            return level
    return LogLevel.INFO


def entry_for(line: str, index: int, *, registry: DeviceRegistry, ship_id: str) -> LogEntry:
    """The LogEntry the handler sees for one line (module docstring); raises ValueError for a
    syslog line the ingest parser rejects."""
    if _SYSLOG.match(line):
        try:
            parsed = parse_syslog(line, received_at=datetime.now(UTC))
        except SyslogParseError as exc:
            raise ValueError(exc.reason) from exc
        return log_from_syslog(
            parsed, peer=None, registry=registry, default_ship_id=ship_id, received_at=parsed.timestamp, started=time.perf_counter(),
            source="replay",
        )
    tokens = line.split(maxsplit=3)[:3]
    epoch = next((int(t) for t in tokens if _EPOCH.match(t)), None)
    at = datetime.fromtimestamp(epoch, UTC) if epoch is not None else _FIRST_SECOND + index * LINE_SPACING
    return LogEntry(
        tracking_id=new_tracking_id(), ship_id=ship_id, device_id=DEFAULT_DEVICE, service="eval",
        level=level_in(line), message=line[:65536] or "-", timestamp=at, ingestion_timestamp=at, source="replay",
    )


def evaluate(lines: Iterable[str], analyzer: LogAnalyzer | None = None, *, registry: DeviceRegistry | None = None,
             ship_id: str | None = None) -> LinesReport:
    settings = Settings()
    if analyzer is None:
        analyzer = LogAnalyzer(load_policy(settings.policies_dir, settings.ship_id).detect)
    if registry is None:
        registry = DeviceRegistry.of(registry_devices(load_inventory(settings.inventory_file))) if settings.inventory_file.exists() else DeviceRegistry()
    ship_id = ship_id or settings.ship_id
    report = LinesReport()
    detectors: dict[str, Counter] = {}
    for index, (label, line) in enumerate(labelled(lines)):
        report.lines += 1
        anomalous = label != NORMAL
        try:
            entry = entry_for(line, index, registry=registry, ship_id=ship_id)
        except ValueError:
            # A line the ingest parser rejects never reaches detection: a negative decision.
            report.unparsed += 1
            anomaly = None
        else:
            anomaly = analyzer.analyze(entry)
        flagged = anomaly is not None
        if anomalous:
            seen = report.by_label.setdefault(label, [0, 0])
            seen[0] += flagged
            seen[1] += 1
        if flagged:
            detectors.setdefault(anomaly.detector, Counter())["tp" if anomalous else "fp"] += 1
        report.tp += flagged and anomalous
        report.fp += flagged and not anomalous
        report.fn += (not flagged) and anomalous
        report.tn += (not flagged) and not anomalous
    report.by_detector = {name: [c["tp"], c["fp"]] for name, c in sorted(detectors.items())}
    return report


def render(report: LinesReport) -> str:
    lines = [
        f"lines {report.lines}   anomalous {report.tp + report.fn}   flagged {report.tp + report.fp}"
        + (f"   unparsed syslog {report.unparsed}" if report.unparsed else ""),
        f"confusion: TP {report.tp}  FP {report.fp}  FN {report.fn}  TN {report.tn}",
        f"precision {report.precision:.4f}   recall {report.recall:.4f}   F1 {report.f1:.4f}",
    ]
    if report.by_detector:
        lines.append("flagged by detector (true / false positives): " + ", ".join(
            f"{name} {tp}/{fp}" for name, (tp, fp) in report.by_detector.items()
        ))
    if report.by_label:
        lines.append("recall by label: " + ", ".join(
            f"{label} {hit}/{total}" for label, (hit, total) in sorted(report.by_label.items())
        ))
    return "\n".join(lines)


def cmd_eval_lines(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"eval lines: {path} is not a file", file=sys.stderr)
        return 2
    with path.open(encoding="utf-8", errors="replace") as handle:
        report = evaluate(handle)
    if args.json:
        body = {"precision": round(report.precision, 4), "recall": round(report.recall, 4), "f1": round(report.f1, 4)}
        sys.stdout.write(orjson.dumps(body).decode() + "\n")
    else:
        print(render(report))
    return 0


def register_eval(eval_sub: argparse._SubParsersAction) -> None:
    parser = eval_sub.add_parser("lines", help="per-line anomaly decision vs BGL-convention labels: precision, recall, F1")
    parser.add_argument("file", help="labelled lines: `-` or a label, a space, then the log line")
    parser.add_argument("--json", action="store_true", help='print {"precision", "recall", "f1"}')
    parser.set_defaults(func=cmd_eval_lines)
