"""`aiops eval parsing --loghub DIR`: grouping accuracy of the template miner on loghub-format data.

Each `DIR/<System>/<System>_2k.log_structured.csv` is read through its `Content` and `EventId`
columns; the `Content` lines go, in file order, through the very TemplateMiner the
anomaly-detection role runs, configured by the same `detect.template` policy for every system
(no per-system regex or setting). Grouping accuracy (GA) is loghub's: a line counts as correctly
parsed when the set of lines in its predicted group equals the set of lines in its ground-truth
EventId group.

A line's predicted group is its template when the file is done: the miner can merge templates
as evidence accumulates (templates.py), and the id it returned for a line merged since is
redirected to the merged one (`TemplateMiner.canonical`), as a batch parser's output would show.
The table also shows the GA of the ids exactly as returned line by line (`online`)."""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from aiops_core.policy import load_policy
from aiops_core.settings import PROJECT_ROOT, Settings
from services.anomaly_detection.templates import TemplateMiner

# Published Drain results on these files (logpai/logparser, Drain's benchmark README), reached
# with a hand-written log format, masking regexes and similarity threshold per system. Reference
# figures to compare against, not results of this code.
PUBLISHED_DRAIN: dict[str, float] = {
    "HDFS": 0.9975, "Hadoop": 0.9475, "Spark": 0.92, "Zookeeper": 0.9665, "BGL": 0.9625,
    "HPC": 0.887, "Thunderbird": 0.955, "Windows": 0.997, "Linux": 0.69, "Android": 0.911,
    "HealthApp": 0.78, "Apache": 1.0, "Proxifier": 0.5265, "OpenSSH": 0.7875, "OpenStack": 0.7325,
    "Mac": 0.7865,
}
DEFAULT_LOGHUB = PROJECT_ROOT.parent / "shared" / "data" / "loghub"


@dataclass
class SystemResult:
    system: str
    lines: int
    events: int
    templates: int
    ga: float
    online_ga: float
    lines_per_second: float
    published_drain: float | None


def structured_files(loghub: Path) -> dict[str, Path]:
    """System name -> its structured CSV, for every `<System>/<System>_2k.log_structured.csv`."""
    found = {}
    for folder in sorted(p for p in loghub.iterdir() if p.is_dir()):
        path = folder / f"{folder.name}_2k.log_structured.csv"
        if path.is_file():
            found[folder.name] = path
    return found


def read_structured(path: Path) -> tuple[list[str], list[str]]:
    """The `Content` lines and their ground-truth `EventId`s, in file order."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"Content", "EventId"} <= rows[0].keys():
        raise ValueError(f"{path}: needs Content and EventId columns")
    return [row["Content"] for row in rows], [row["EventId"] for row in rows]


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group is exactly their ground-truth group (loghub's GA)."""
    if len(truth) != len(predicted):
        raise ValueError("one prediction per line")
    if not truth:
        return 0.0
    truth_sizes = Counter(truth)
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for index, group in enumerate(predicted):
        groups[group].append(index)
    correct = 0
    for members in groups.values():
        events = {truth[i] for i in members}
        if len(events) == 1 and truth_sizes[next(iter(events))] == len(members):
            correct += len(members)
    return correct / len(truth)


def parse_system(system: str, path: Path, template_policy) -> SystemResult:
    contents, events = read_structured(path)
    miner = TemplateMiner.from_policy(template_policy)
    started = time.perf_counter()
    online = [miner.add(line).template_id for line in contents]
    elapsed = time.perf_counter() - started
    final = [miner.canonical(template_id) for template_id in online]
    return SystemResult(
        system=system, lines=len(contents), events=len(set(events)), templates=len(set(final)),
        ga=round(grouping_accuracy(events, final), 4), online_ga=round(grouping_accuracy(events, online), 4),
        lines_per_second=round(len(contents) / elapsed) if elapsed > 0 else 0.0,
        published_drain=PUBLISHED_DRAIN.get(system),
    )


def evaluate(loghub: Path, template_policy=None) -> list[SystemResult]:
    """Every system of the folder, parsed with one template policy (the node's by default)."""
    if template_policy is None:
        settings = Settings()
        template_policy = load_policy(settings.policies_dir, settings.ship_id).detect.template
    files = structured_files(loghub)
    if not files:
        raise FileNotFoundError(f"{loghub}: no <System>/<System>_2k.log_structured.csv")
    return [parse_system(system, path, template_policy) for system, path in files.items()]


def summary(results: list[SystemResult]) -> dict:
    """`{"systems": {name: ga}, "average": x}`."""
    return {
        "systems": {r.system: r.ga for r in results},
        "average": round(statistics.fmean(r.ga for r in results), 4),
    }


def render(results: list[SystemResult]) -> str:
    lines = [f"{'system':12} {'lines':>6} {'events':>6} {'groups':>6} {'GA':>7} {'online':>7} {'Drain':>7}  {'lines/s':>8}"]
    for r in results:
        drain = f"{r.published_drain:.4f}" if r.published_drain is not None else "-"
        mark = ""
        if r.published_drain is not None:
            mark = " +" if r.ga > r.published_drain else (" =" if r.ga == r.published_drain else " -")
        lines.append(
            f"{r.system:12} {r.lines:>6} {r.events:>6} {r.templates:>6} {r.ga:>7.4f} {r.online_ga:>7.4f} "
            f"{drain:>7}{mark:2} {r.lines_per_second:>7.0f}"
        )
    compared = [r for r in results if r.published_drain is not None]
    average = statistics.fmean(r.ga for r in results)
    lines.append(
        f"{'average':12} {'':>6} {'':>6} {'':>6} {average:>7.4f} {statistics.fmean(r.online_ga for r in results):>7.4f} "
        + (f"{statistics.fmean(r.published_drain for r in compared):>7.4f}" if compared else f"{'-':>7}")
    )
    if compared:
        wins = sum(r.ga > r.published_drain for r in compared)
        ties = sum(r.ga == r.published_drain for r in compared)
        lines.append(f"better than published Drain on {wins} of {len(compared)} systems, equal on {ties}")
    return "\n".join(lines)


def cmd_eval_parsing(args: argparse.Namespace) -> int:
    loghub = Path(args.loghub)
    if not loghub.is_dir():
        print(f"eval parsing: {loghub} is not a folder", file=sys.stderr)
        return 2
    results = evaluate(loghub)
    if args.json:
        sys.stdout.write(orjson.dumps(summary(results)).decode() + "\n")
    else:
        print(render(results))
    return 0


def register_eval(eval_sub: argparse._SubParsersAction) -> None:
    parser = eval_sub.add_parser("parsing", help="template miner grouping accuracy on loghub-format data")
    parser.add_argument("--loghub", default=str(DEFAULT_LOGHUB), help="folder of <System>/<System>_2k.log_structured.csv")
    parser.add_argument("--json", action="store_true", help='print {"systems": {name: ga}, "average": x}')
    parser.set_defaults(func=cmd_eval_parsing)
