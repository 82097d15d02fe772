"""The provisioned Grafana dashboards and datasources: JSON that parses, queries only over series
the roles export, and every panel on a datasource Grafana is provisioned with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.unit.promql_names import SCRAPE_SERIES, exported_series, metric_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
PROVISIONING = ROOT / "grafana" / "provisioning"


def _panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows
    return panels


def _datasources() -> dict[str, dict]:
    doc = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yml").read_text())
    return {ds["uid"]: ds for ds in doc["datasources"]}


def test_the_dashboards_cover_slos_throughput_dlq_and_incidents():
    """There are dashboards for the SLOs, the pipeline (throughput, DLQ) and incidents by ship and type."""
    titles = {p.stem: json.loads(p.read_text())["title"] for p in DASHBOARDS}
    assert {"slo", "pipeline", "incidents"} <= set(titles)
    exprs = " ".join(
        t.get("expr", "") for p in DASHBOARDS for panel in _panels(json.loads(p.read_text())) for t in panel.get("targets", [])
    )
    for series in ("aiops_fast_path_latency_seconds_bucket", "aiops_insight_path_latency_seconds_bucket",
                   "aiops_messages_total", "aiops_dlq_total", "aiops_stage_latency_seconds_bucket"):
        assert series in exprs
    incidents = json.loads((ROOT / "grafana/dashboards/incidents.json").read_text())
    selectors = {t.get("root_selector") for panel in _panels(incidents) for t in panel.get("targets", [])}
    assert {"incidents.by_ship", "incidents.by_type"} <= selectors


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_dashboard_promql_uses_only_exported_series(path):
    """Every PromQL target of every panel selects only series declared in aiops_core/metrics.py (or `up`)."""
    known = exported_series() | SCRAPE_SERIES
    dashboard = json.loads(path.read_text())
    seen = 0
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" not in target:
                continue
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']}"
            assert names <= known, f"{path.name} / {panel['title']}: unknown series {sorted(names - known)}"
            seen += 1
    assert seen or path.stem == "incidents"


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.name for p in DASHBOARDS])
def test_dashboard_panels_use_provisioned_datasources(path):
    """Each panel and target names a datasource uid that provisioning creates, of the matching type."""
    datasources = _datasources()
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in _panels(dashboard):
        for ref in [panel.get("datasource"), *(t.get("datasource") for t in panel.get("targets", []))]:
            if ref is None:
                continue
            assert ref["uid"] in datasources, f"{panel['title']}: {ref}"
            assert datasources[ref["uid"]]["type"] == ref["type"]


def test_provisioning_points_at_the_dashboards_and_the_console():
    """The dashboard provider reads the mounted folder; the console app and both datasources are provisioned."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    grafana_mounts = compose["services"]["grafana"]["volumes"]
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yml").read_text())["providers"][0]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in grafana_mounts
    types = {ds["type"] for ds in _datasources().values()}
    assert {"prometheus", "yesoreyeram-infinity-datasource"} <= types
    plugin_id = json.loads((ROOT / "grafana/plugins/aiops-ops-console/src/plugin.json").read_text())["id"]
    apps = yaml.safe_load((PROVISIONING / "plugins" / "plugins.yml").read_text())["apps"]
    assert [app["type"] for app in apps] == [plugin_id]
    assert f"./grafana/plugins/aiops-ops-console/dist:/var/lib/grafana/plugins/{plugin_id}:ro" in grafana_mounts
    assert plugin_id in compose["services"]["grafana"]["environment"]["GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS"]
