"""What a bench run reports: the figures (the keys `--json` prints), their targets, and the
readable table."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Every figure a run measures, in the order the table shows them.
KEYS = (
    "floor_p99_ms",
    "fast_path_p50_ms",
    "fast_path_p99_ms",
    "fast_path_ratio_to_floor",
    "sustained_lines_per_s",
    "enrichment_p99_ms",
    "correlation_p99_ms",
    "insight_fallback_p99_ms",
    "stats_p99_ms",
    "incident_list_p99_ms",
    "rss_mb",
)


@dataclass(frozen=True)
class Target:
    bound: float
    # "max": the figure must be at most `bound`; "min": at least.
    kind: str
    label: str

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value <= self.bound if self.kind == "max" else value >= self.bound


# The targets on a two-core machine (issue 8).
TARGETS: dict[str, Target] = {
    "fast_path_p99_ms": Target(20.0, "max", "<= 20 ms"),
    "fast_path_ratio_to_floor": Target(4.0, "max", "<= 4x floor"),
    "sustained_lines_per_s": Target(20_000, "min", ">= 20,000"),
    "enrichment_p99_ms": Target(5.0, "max", "<= 5 ms"),
    "correlation_p99_ms": Target(5.0, "max", "<= 5 ms"),
    "insight_fallback_p99_ms": Target(300.0, "max", "<= 300 ms"),
    "stats_p99_ms": Target(150.0, "max", "<= 150 ms"),
    "rss_mb": Target(1536.0, "max", "<= 1.5 GB"),
}

UNITS = {"fast_path_ratio_to_floor": "x", "sustained_lines_per_s": "lines/s", "rss_mb": "MB"}


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by the nearest-rank method (an observed value, never an interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def machine() -> dict[str, object]:
    """What the figures were measured on, and how busy it was when the run began."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }


def verdicts(figures: dict[str, float | None]) -> dict[str, bool | None]:
    return {key: target.met(figures.get(key)) for key, target in TARGETS.items()}


def table(figures: dict[str, float | None], details: dict[str, object], notes: Sequence[str]) -> str:
    """The run as a person reads it: each figure, its target and whether it is met."""
    judged = verdicts(figures)
    rows = [("measure", "value", "target", "met")]
    for key in KEYS:
        value = figures.get(key)
        shown = "n/a" if value is None else f"{value:,.1f} {UNITS.get(key, 'ms')}".strip()
        target = TARGETS.get(key)
        met = judged.get(key)
        rows.append((key, shown, target.label if target else "", "" if met is None else ("yes" if met else "NO")))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    out = ["aiops bench: " + str(details.get("mode", "")), "", *lines, ""]
    for name, value in details.items():
        if name != "mode":
            out.append(f"{name}: {value}")
    if notes:
        out += ["", *[f"note: {note}" for note in notes]]
    return "\n".join(out) + "\n"
