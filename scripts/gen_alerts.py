#!/usr/bin/env python3
"""Writes vmalert/alerts.yml from policies/slo.yaml, so the alert thresholds and the SLOs the
stats API reports are one set of numbers. `python scripts/gen_alerts.py` rewrites the file;
`--check` exits 1 when the committed file differs from what the policy gives (the unit tests run
that comparison too).

Metric labels: vmagent scrapes every role with `job="aiops"` and `role="<role>"` (the embedded
node is scraped as `role="node"`); see vmagent/scrape.yml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiops_core.policy import SloPolicy, load_policy  # noqa: E402

ALERTS_FILE = ROOT / "vmalert" / "alerts.yml"
RUNBOOKS = "docs/OPERATIONS.md"

# Thresholds that are operating choices rather than SLOs (slo.yaml has no number for them).
DLQ_PER_MINUTE = 1.0
# A consumer this many seconds of the minimum sustained ingest rate behind has lost the fast path.
LAG_SECONDS_OF_TRAFFIC = 30
# Above this share of insights from the fallback, the LLM is effectively not answering.
FALLBACK_SHARE = 0.5

# Rate windows. The vmalert integration test renders the same rules with short windows and hold
# times and evaluation interval (render(slo, window=..., slow_window=..., hold=..., interval=...))
# so an alert fires and resolves in seconds; production keeps these.
WINDOW = "5m"
SLOW_WINDOW = "15m"


def anchor(alert: str) -> str:
    """The docs/OPERATIONS.md anchor of an alert's runbook (its `### <AlertName>` heading)."""
    return f"{RUNBOOKS}#{alert.lower()}"


def _alert(name: str, expr: str, hold: str, severity: str, summary: str, description: str) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": hold,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description, "runbook_url": anchor(name)},
    }


def slo_thresholds(slo: SloPolicy) -> dict[str, float]:
    """The alert thresholds that come from the SLO policy, in the units the metrics use."""
    return {
        "FastPathLatencyHigh": slo.fast_path_p99_ms.target / 1000,
        "InsightPathLatencyHigh": slo.insight_path_p99_ms.target / 1000,
        "ErrorRateHigh": slo.error_rate_pct.target / 100,
        "ConsumerLagHigh": slo.ingest_events_per_s.target * LAG_SECONDS_OF_TRAFFIC,
    }


def rules(slo: SloPolicy, *, window: str = WINDOW, slow_window: str = SLOW_WINDOW, hold: str | None = None,
          interval: str = "30s") -> dict:
    """The rule groups, evaluated every `interval`. `hold` replaces every `for:` (for tests only)."""
    t = slo_thresholds(slo)

    def for_(value: str) -> str:
        return hold or value

    fast_p99 = f'histogram_quantile(0.99, sum by (le) (rate(aiops_fast_path_latency_seconds_bucket{{job="aiops"}}[{window}])))'
    insight_p99 = f'histogram_quantile(0.99, sum by (le) (rate(aiops_insight_path_latency_seconds_bucket{{job="aiops"}}[{slow_window}])))'
    # Settled messages: a retried message is counted again when it settles, so "retry" is left out.
    error_share = (
        f'sum(rate(aiops_messages_total{{job="aiops",outcome=~"dlq|invalid"}}[{window}]))'
        f' / sum(rate(aiops_messages_total{{job="aiops",outcome=~"ok|dlq|invalid"}}[{window}]))'
    )
    fallback_share = (
        f'sum(rate(aiops_insights_total{{job="aiops",source="fallback"}}[{slow_window}]))'
        f' / sum(rate(aiops_insights_total{{job="aiops"}}[{slow_window}]))'
    )
    slo_group = [
        _alert(
            "FastPathLatencyHigh", f"{fast_p99} > {t['FastPathLatencyHigh']:g}", for_("2m"), "critical",
            "Fast path p99 above the {:g} ms SLO".format(slo.fast_path_p99_ms.target),
            "p99 from ingestion to incident stored is {{ $value | humanizeDuration }} over the last "
            f"{window} (SLO: {slo.fast_path_p99_ms.target:g} ms). Operators see incidents late.",
        ),
        _alert(
            "InsightPathLatencyHigh", f"{insight_p99} > {t['InsightPathLatencyHigh']:g}", for_("10m"), "warning",
            "Insight path p99 above the {:g} s SLO".format(slo.insight_path_p99_ms.target / 1000),
            "p99 from incident change to stored insight is {{ $value | humanizeDuration }} over the last "
            f"{slow_window} (SLO: {slo.insight_path_p99_ms.target / 1000:g} s).",
        ),
        _alert(
            "ErrorRateHigh", f"{error_share} > {t['ErrorRateHigh']:g}", for_("5m"), "critical",
            "More than {:g} % of bus messages end in a dead-letter queue".format(slo.error_rate_pct.target),
            "{{ $value | humanizePercentage }} of the messages settled over the last "
            f"{window} were dead-lettered (SLO: at most {slo.error_rate_pct.target:g} %).",
        ),
    ]
    pipeline_group = [
        _alert(
            "DeadLettersRising",
            f'sum by (role) (rate(aiops_dlq_total{{job="aiops"}}[{window}])) * 60 > {DLQ_PER_MINUTE:g}',
            for_("10m"), "warning",
            "{{ $labels.role }} dead-letters messages",
            "{{ $labels.role }} sends {{ $value | humanize }} messages a minute to dlq.{{ $labels.role }}.",
        ),
        _alert(
            "ConsumerLagHigh",
            f'max by (consumer) (aiops_consumer_pending_messages{{job="aiops"}}) > {t["ConsumerLagHigh"]:g}',
            for_("5m"), "warning",
            "Consumer {{ $labels.consumer }} is falling behind",
            "{{ $value | humanize }} messages wait for {{ $labels.consumer }}: more than "
            f"{LAG_SECONDS_OF_TRAFFIC} s of the {slo.ingest_events_per_s.target:g} lines/s the node must absorb.",
        ),
        _alert(
            "RoleDown", 'up{job="aiops"} == 0', for_("1m"), "critical",
            "Role {{ $labels.role }} is down",
            "vmagent cannot scrape {{ $labels.role }} at {{ $labels.instance }}: the role is not running or not answering.",
        ),
        _alert(
            "ComponentDown", 'up{job!="aiops"} == 0', for_("2m"), "warning",
            "{{ $labels.job }} is down",
            "vmagent cannot scrape {{ $labels.job }} at {{ $labels.instance }}.",
        ),
    ]
    dependency_group = [
        _alert(
            "StoreUnreachable", 'min by (role) (aiops_store_up{job="aiops"}) == 0', for_("2m"), "critical",
            "{{ $labels.role }} cannot reach ClickHouse",
            "The last store health check of {{ $labels.role }} failed: incidents and the log archive are not being written.",
        ),
        _alert(
            "BusDisconnected", 'min by (role) (aiops_nats_up{job="aiops"}) == 0', for_("2m"), "critical",
            "{{ $labels.role }} lost its NATS connection",
            "{{ $labels.role }} is not connected to NATS: it neither consumes nor publishes.",
        ),
        _alert(
            "LlmDown", 'min by (role) (aiops_llm_up{job="aiops",role=~"llm-enricher|node"}) == 0', for_("5m"),
            "warning",
            "The LLM is not answering",
            "The llm-enricher's last LLM request or probe failed: insights come from the deterministic fallback.",
        ),
        _alert(
            "LlmFallingBack", f"{fallback_share} > {FALLBACK_SHARE:g}", for_("15m"), "warning",
            "Most insights come from the fallback",
            "{{ $value | humanizePercentage }} of the insights over the last "
            f"{slow_window} were built without the LLM (slow, failing or circuit open).",
        ),
    ]
    return {
        "groups": [
            {"name": "aiops-slo", "interval": interval, "rules": slo_group},
            {"name": "aiops-pipeline", "interval": interval, "rules": pipeline_group},
            {"name": "aiops-dependencies", "interval": interval, "rules": dependency_group},
        ]
    }


HEADER = (
    "# Generated by scripts/gen_alerts.py from policies/slo.yaml: edit those, then run\n"
    "# `python scripts/gen_alerts.py`. Runbooks: docs/OPERATIONS.md.\n"
)


def render(slo: SloPolicy, **options) -> str:
    return HEADER + yaml.safe_dump(rules(slo, **options), sort_keys=False, width=1000, allow_unicode=True)


def default_slo() -> SloPolicy:
    """The fleet-wide SLOs (the alerts are not per ship)."""
    return load_policy(ROOT / "policies").slo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if vmalert/alerts.yml is stale")
    args = parser.parse_args(argv)
    text = render(default_slo())
    if args.check:
        current = ALERTS_FILE.read_text(encoding="utf-8") if ALERTS_FILE.exists() else ""
        if current != text:
            print(f"{ALERTS_FILE.relative_to(ROOT)} is stale: run python scripts/gen_alerts.py", file=sys.stderr)
            return 1
        return 0
    ALERTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    ALERTS_FILE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
