"""vmalert/alerts.yml: generated from policies/slo.yaml, valid for vmalert, every alert with a
runbook, and every expression over series the roles really export."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from aiops_core.policy import load_policy
from tests.unit.promql_names import SCRAPE_SERIES, exported_series, metric_names

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "vmalert" / "alerts.yml"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"

_spec = importlib.util.spec_from_file_location("gen_alerts", ROOT / "scripts" / "gen_alerts.py")
gen_alerts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_alerts)

REQUIRED = {
    "FastPathLatencyHigh", "InsightPathLatencyHigh", "ErrorRateHigh", "DeadLettersRising", "ConsumerLagHigh",
    "RoleDown", "LlmDown", "LlmFallingBack", "StoreUnreachable",
}


def _rules() -> dict[str, dict]:
    doc = yaml.safe_load(ALERTS.read_text())
    return {rule["alert"]: rule for group in doc["groups"] for rule in group["rules"]}


def _threshold(expr: str) -> float:
    match = re.search(r">\s*([0-9.e+-]+)\s*$", expr)
    assert match, expr
    return float(match.group(1))


def test_committed_rules_equal_the_generator_output():
    """vmalert/alerts.yml is exactly what scripts/gen_alerts.py makes of policies/slo.yaml (no hand edits)."""
    assert ALERTS.read_text() == gen_alerts.render(gen_alerts.default_slo())


def test_slo_thresholds_match_the_policy():
    """The latency and error-rate alerts fire above the targets in policies/slo.yaml, in the metrics' units."""
    slo = load_policy(ROOT / "policies").slo
    rules = _rules()
    assert _threshold(rules["FastPathLatencyHigh"]["expr"]) == slo.fast_path_p99_ms.target / 1000
    assert _threshold(rules["InsightPathLatencyHigh"]["expr"]) == slo.insight_path_p99_ms.target / 1000
    assert _threshold(rules["ErrorRateHigh"]["expr"]) == slo.error_rate_pct.target / 100
    assert "histogram_quantile(0.99" in rules["FastPathLatencyHigh"]["expr"]
    assert "histogram_quantile(0.99" in rules["InsightPathLatencyHigh"]["expr"]


def test_a_changed_slo_changes_the_rules():
    """The generator really reads the policy: a stricter fast-path target gives a lower threshold."""
    slo = gen_alerts.default_slo()
    stricter = slo.model_copy(update={"fast_path_p99_ms": slo.fast_path_p99_ms.model_copy(update={"target": 50})})
    rules = {r["alert"]: r for g in gen_alerts.rules(stricter)["groups"] for r in g["rules"]}
    assert _threshold(rules["FastPathLatencyHigh"]["expr"]) == 0.05


def test_every_required_alert_is_present():
    """Each alert the issue names exists (SLOs, DLQ, lag, role down, LLM, store)."""
    assert REQUIRED <= set(_rules())
    assert _rules()["RoleDown"]["expr"].replace(" ", "").startswith("up{") and "==0" in _rules()["RoleDown"]["expr"].replace(" ", "")


def test_every_alert_has_hold_severity_annotations_and_a_runbook_anchor():
    """Each alert has `for`, a severity label, summary and description, and a runbook_url whose anchor exists."""
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines() if line.startswith("#")
    }
    for name, rule in _rules().items():
        assert re.fullmatch(r"\d+[smh]", rule["for"]), name
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/OPERATIONS.md", name
        assert anchor in headings, f"{name}: no heading for #{anchor} in docs/OPERATIONS.md"


def test_expressions_use_only_exported_series():
    """Every series an alert selects is declared in aiops_core/metrics.py (or is the scrape's `up`)."""
    known = exported_series() | SCRAPE_SERIES
    for name, rule in _rules().items():
        names = metric_names(rule["expr"])
        assert names, name
        assert names <= known, f"{name}: unknown series {sorted(names - known)}"


def test_metric_name_extraction_sees_an_unknown_series():
    """The name check is not vacuous: a misspelt series is reported."""
    assert metric_names('sum(rate(aiops_fastpath_latency_seconds_bucket{job="aiops"}[5m])) > 0.1') == {
        "aiops_fastpath_latency_seconds_bucket"
    }


def test_vmalert_dry_run_accepts_the_rules():
    """`vmalert -dryRun -rule='vmalert/*.yml'` parses every rule, expression and template."""
    vmalert = shutil.which("vmalert")
    if vmalert is None:
        pytest.fail("vmalert is not installed: run scripts/install_victoria_metrics.sh (scripts/test.sh does)")
    result = subprocess.run(
        [vmalert, "-dryRun", "-rule=vmalert/*.yml"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
