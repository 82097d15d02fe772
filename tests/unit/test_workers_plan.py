"""Which roles the embedded node runs as workers, what a worker is told, and how their metrics
merge into the node's scrape."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from aiops_core import metrics
from aiops_core.settings import Settings
from services.roles import ALL_ROLES
from services.workers import planned_workers, roles_left_in_node, worker_environment


def test_the_node_runs_the_per_line_roles_as_workers_and_keeps_ingest_for_http():
    names = planned_workers(Settings(), ALL_ROLES)
    assert names == ["syslog", "anomaly-detection"]
    left = roles_left_in_node(ALL_ROLES, names)
    assert "anomaly-detection" not in left
    assert "ingest" in left  # HTTP ingestion and the archiver stay with the store


def test_no_workers_when_disabled_for_one_role_on_shore_or_inside_a_worker():
    assert planned_workers(Settings(node_workers=False), ALL_ROLES) == []
    assert planned_workers(Settings(), ["anomaly-detection"]) == []
    assert planned_workers(Settings(node_role="shore"), ALL_ROLES) == []
    assert planned_workers(Settings(store_relay=True), ALL_ROLES) == []
    assert planned_workers(Settings(syslog_listener=False), ALL_ROLES) == ["anomaly-detection"]


def test_a_worker_gets_the_nodes_settings_its_nats_and_the_relay(monkeypatch):
    settings = Settings(ship_id="ms-test", data_dir=Path("/srv/aiops"), syslog_port=5514)
    env = worker_environment(settings, "nats://127.0.0.1:4999", {"archive_enabled": False})
    monkeypatch.setattr("os.environ", env)
    seen = Settings()
    assert (seen.ship_id, seen.data_dir, seen.syslog_port) == ("ms-test", Path("/srv/aiops"), 5514)
    # A relative data dir is the node's, whatever directory the worker starts in.
    relative = worker_environment(Settings(data_dir=Path("ship-data")), "nats://x:1", {})
    assert relative["DATA_DIR"] == str(Path("ship-data").resolve())
    assert seen.nats_url == "nats://127.0.0.1:4999"
    assert seen.store_relay and not seen.node_workers and not seen.archive_enabled
    assert seen.api_host == "127.0.0.1"  # a worker's /health and /metrics are not exposed


def test_worker_samples_join_the_nodes_families_with_a_worker_label():
    metrics.MESSAGES.labels("incident-api", "ok").inc()
    worker_text = (
        "# HELP aiops_messages_total Bus messages handled, by role and outcome.\n"
        "# TYPE aiops_messages_total counter\n"
        'aiops_messages_total{outcome="ok",role="anomaly-detection"} 1234.0\n'
        "# HELP worker_only_total Something only the worker has.\n"
        "# TYPE worker_only_total counter\n"
        "worker_only_total 7.0\n"
    )
    body, _ = metrics.render([("anomaly-detection", worker_text)])
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    samples = [(s.labels, s.value) for s in families["aiops_messages"].samples if s.name.endswith("_total")]
    assert ({"outcome": "ok", "role": "anomaly-detection", "worker": "anomaly-detection"}, 1234.0) in samples
    assert any(labels.get("role") == "incident-api" and "worker" not in labels for labels, _ in samples)
    # One HELP/TYPE per family: the merged scrape is valid exposition.
    assert body.count(b"# TYPE aiops_messages_total counter") == 1
    assert [s.value for s in families["worker_only"].samples] == [7.0]
