"""Metric names in PromQL/MetricsQL expressions, and the names aiops_core.metrics exports, so the
alert rules and dashboards can be checked against the code that produces the series."""

from __future__ import annotations

import re

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

from aiops_core import metrics

# Series every Prometheus-style scraper adds for each target.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                       "group_left", "group_right", "inf", "nan"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w.$])([A-Za-z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The series names an expression selects (function names, keywords and labels left out)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def _family_series(family: Metric) -> set[str]:
    base = family.name
    if family.type == "counter":
        return {f"{base}_total", f"{base}_created"}
    if family.type == "histogram":
        return {f"{base}_bucket", f"{base}_count", f"{base}_sum", f"{base}_created"}
    if family.type == "summary":
        return {base, f"{base}_count", f"{base}_sum", f"{base}_created"}
    return {base}


def exported_series() -> set[str]:
    """Every series name of the metrics declared in aiops_core/metrics.py."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names |= _family_series(family)
    return names
