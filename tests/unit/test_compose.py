"""docker-compose.yml, .env.example and the Dockerfile: valid against the compose specification
(offline, tests/data/compose-spec.json from the compose-spec repository), every piece of the
stack present, and each role's command, port and environment consistent with the settings."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aiops_core.settings import Settings
from aiops_core.store import DATABASE
from services.tools.run import ALL_ROLES, API_ROLES

ROOT = Path(__file__).resolve().parents[2]
RAW = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = RAW["services"]

INFRASTRUCTURE = {
    "nats", "clickhouse", "qdrant", "ollama", "ollama-init", "vector", "victoriametrics", "vmagent",
    "vmalert", "alertmanager", "grafana",
}
# Services that depend on nothing: the stores, the bus and the monitoring backends.
ROOTS = {"nats", "clickhouse", "qdrant", "ollama", "victoriametrics", "alertmanager"}
# Build outputs mounted by compose, made on the server before `docker compose up` (not in git).
BUILD_OUTPUTS = {"./grafana/plugins/aiops-ops-console/dist": "grafana/plugins/aiops-ops-console/package.json"}


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        current = env.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op == ":?":
            if not current:
                raise AssertionError(f"{name} must be set: {arg}")
            return current
        if current is None:
            raise AssertionError(f"{name} is not in .env.example")
        return current

    return _VARIABLE.sub(substitute, value)


COMPOSE = interpolate(RAW, _env_example())


def _role_port(role: str, settings: Settings) -> int:
    return settings.api_port if role in API_ROLES else settings.metrics_port


def _role_settings(service: dict[str, Any]) -> Settings:
    env = service["environment"]
    return Settings(_env_file=None, **{key.lower(): value for key, value in env.items()})


def test_compose_file_validates_against_the_compose_spec():
    """The compose file is valid under the compose-spec JSON schema, before and after substitution."""
    schema = json.loads((ROOT / "tests/data/compose-spec.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    for document in (RAW, COMPOSE):
        errors = sorted(validator_class(schema).iter_errors(document), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_schema_rejects_a_broken_service():
    """The vendored schema is strict enough to catch a typo (the validation is not vacuous)."""
    schema = json.loads((ROOT / "tests/data/compose-spec.json").read_text())
    broken = {"services": {"x": {"image": "a", "depends_on": {"y": {"condition": "service_ready"}}, "helthcheck": {}}}}
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_every_piece_of_the_stack_is_named():
    """NATS, ClickHouse, Qdrant, Ollama (+ init), Vector, the VictoriaMetrics stack, Alertmanager, Grafana and each role."""
    assert INFRASTRUCTURE | set(ALL_ROLES) == set(SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_health_check_volumes_and_conditional_dependencies(name):
    """Each service has a health check and volumes; each dependency waits on a condition."""
    service = SERVICES[name]
    assert service.get("healthcheck", {}).get("test"), name
    assert service.get("volumes"), name
    depends = service.get("depends_on")
    if name in ROOTS:
        assert depends is None
        return
    assert isinstance(depends, dict) and depends, name
    for dependency, spec in depends.items():
        assert dependency in SERVICES
        assert spec["condition"] in {"service_healthy", "service_completed_successfully"}, (name, dependency)
        assert SERVICES[dependency].get("healthcheck") or spec["condition"] != "service_healthy"


@pytest.mark.parametrize("role", ALL_ROLES)
def test_each_role_runs_from_the_one_image_with_its_command(role):
    """Every role is `aiops serve <role>` from the same image built from this repository."""
    service = COMPOSE["services"][role]
    images = {COMPOSE["services"][r]["image"] for r in ALL_ROLES}
    assert images == {service["image"]}
    assert service["build"]["context"] == "."
    assert service["command"] == ["serve", role]
    dockerfile = _dockerfile()
    assert dockerfile["ENTRYPOINT"] == [["aiops"]]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_each_role_environment_is_real_settings(role):
    """Every variable a role gets is a Settings field, and together they validate as Settings."""
    env = COMPOSE["services"][role]["environment"]
    fields = set(Settings.model_fields)
    unknown = {key for key in env if key.lower() not in fields}
    assert not unknown, f"{role}: not settings: {sorted(unknown)}"
    settings = _role_settings(COMPOSE["services"][role])
    assert settings.nats_url == "nats://nats:4222"
    assert settings.store_dsn().startswith("http://") and "@clickhouse:8123/" in settings.store_dsn()
    assert settings.store_dsn().rsplit("/", 1)[1] == DATABASE
    assert settings.ship_id == _env_example()["SHIP_ID"]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_each_role_port_is_where_health_metrics_and_publishing_point(role):
    """The port `aiops serve` listens on (API_PORT or METRICS_PORT) is the health check's, vmagent's and the published one."""
    service = COMPOSE["services"][role]
    port = _role_port(role, _role_settings(service))
    assert service["healthcheck"]["test"][-1] == str(port)
    scrape = yaml.safe_load((ROOT / "vmagent/scrape.yml").read_text())
    aiops_job = next(job for job in scrape["scrape_configs"] if job["job_name"] == "aiops")
    targets = {t: group["labels"]["role"] for group in aiops_job["static_configs"] for t in group["targets"]}
    assert targets.get(f"{role}:{port}") == role
    for mapping in service.get("ports", []):
        assert mapping.rsplit(":", 1)[1] == str(port)
    if role in API_ROLES:
        assert service.get("ports"), f"{role} serves the API: it must be published"


def test_vmagent_scrapes_exactly_the_roles():
    """The aiops job has one target per role and no other."""
    scrape = yaml.safe_load((ROOT / "vmagent/scrape.yml").read_text())
    aiops_job = next(job for job in scrape["scrape_configs"] if job["job_name"] == "aiops")
    roles = [group["labels"]["role"] for group in aiops_job["static_configs"]]
    assert sorted(roles) == sorted(ALL_ROLES)


def test_the_ingest_role_keeps_archiving_alongside_vector():
    """ARCHIVE_ENABLED stays true in compose: HTTP-posted logs and the pipeline trace need the archiver
    (docs/DEPLOYMENT.md, "Vector and the ingest role")."""
    assert _role_settings(COMPOSE["services"]["ingest"]).archive_enabled is True
    assert "Vector and the ingest role" in (ROOT / "docs/DEPLOYMENT.md").read_text()


def test_infrastructure_wiring():
    """NATS persists JetStream; ClickHouse creates the aiops database; Vector, vmalert, vmagent and the init job are wired."""
    services = COMPOSE["services"]
    nats = services["nats"]
    assert "--jetstream" in nats["command"]
    store_dir = nats["command"][nats["command"].index("--store_dir") + 1]
    assert any(v.endswith(f":{store_dir}") and not v.startswith(".") for v in nats["volumes"])
    assert services["clickhouse"]["environment"]["CLICKHOUSE_DB"] == DATABASE

    vector = services["vector"]
    assert vector["environment"]["SHIP_ID"] == _env_example()["SHIP_ID"]
    assert "./vector/vector.toml:/etc/vector/vector.toml:ro" in vector["volumes"]
    vector_config = tomllib.loads((ROOT / "vector/vector.toml").read_text())
    syslog_ports = {s["address"].rsplit(":", 1)[1] for s in vector_config["sources"].values() if s["type"] == "syslog"}
    published = {p.split(":")[1].split("/")[0] for p in vector["ports"]}
    assert published == syslog_ports
    assert {p.rsplit("/", 1)[1] for p in vector["ports"]} == {"udp", "tcp"}

    vmalert = " ".join(services["vmalert"]["command"])
    assert "-rule=/etc/vmalert/*.yml" in vmalert
    assert "-datasource.url=http://victoriametrics:8428" in vmalert
    assert "-notifier.url=http://alertmanager:9093" in vmalert
    assert "./vmalert:/etc/vmalert:ro" in services["vmalert"]["volumes"]
    assert "-promscrape.config=/etc/vmagent/scrape.yml" in services["vmagent"]["command"]
    assert "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in services["alertmanager"]["volumes"]

    init = services["ollama-init"]
    assert "./scripts/init_ollama.sh:/scripts/init_ollama.sh:ro" in init["volumes"]
    assert init["entrypoint"][-1] == "/scripts/init_ollama.sh"
    assert init["depends_on"]["ollama"]["condition"] == "service_healthy"


def test_bind_mount_sources_exist():
    """Every file or folder compose mounts from the repository exists (build outputs: their project does)."""
    missing = []
    for name, service in RAW["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith("."):
                continue  # a named volume
            if source in BUILD_OUTPUTS:
                source = BUILD_OUTPUTS[source]
            elif "${" in volume.split(":", 1)[0]:
                continue  # a site path from .env
            if not (ROOT / source).exists():
                missing.append(f"{name}: {source}")
    assert not missing, missing


def test_env_example_covers_every_variable_compose_uses():
    """Every ${VAR} in docker-compose.yml is documented in .env.example."""
    used = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    assert used <= set(_env_example()), sorted(used - set(_env_example()))


# --- the Dockerfile ------------------------------------------------------------------------------


def _dockerfile() -> dict[str, list[Any]]:
    """Instructions by keyword; exec-form (JSON) arguments decoded, shell-form kept as text."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions: dict[str, list[Any]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        rest = rest.strip()
        value: Any = json.loads(rest) if rest.startswith("[") else rest
        instructions.setdefault(keyword.upper(), []).append(value)
    return instructions


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p) for p in patterns)


def test_dockerfile_builds_one_non_root_image_with_the_aiops_entrypoint():
    """python:3.11-slim, CPU torch pinned, the project installed, a non-root user, a health check, ENTRYPOINT aiops."""
    instructions = _dockerfile()
    assert instructions["FROM"] == ["python:3.11-slim"]
    runs = " ".join(instructions["RUN"])
    assert "torch==2.13.0" in runs and "--index-url" in runs
    assert "pip install ." in runs
    user = instructions["USER"][-1]
    assert user not in {"root", "0"}
    assert instructions["HEALTHCHECK"]
    assert instructions["ENTRYPOINT"] == [["aiops"]]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "aiops" in scripts


def test_dockerfile_copy_sources_exist_and_are_in_the_build_context():
    """Every COPY source exists in the repository and is not excluded by .dockerignore."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for copy in _dockerfile()["COPY"]:
        parts = copy if isinstance(copy, list) else shlex.split(copy)
        sources = [p for p in parts[:-1] if not p.startswith("--")]
        assert sources
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _ignored(source, patterns), f"{source} is excluded by .dockerignore"


def test_dockerfile_settings_point_at_copied_folders():
    """The policy, inventory and knowledge paths set in the image are folders the image copies."""
    copied = {shlex.split(c)[-1].removeprefix("./") for c in _dockerfile()["COPY"] if isinstance(c, str)}
    env_text = " ".join(e for e in _dockerfile()["ENV"] if isinstance(e, str))
    for key in ("POLICIES_DIR", "INVENTORY_FILE", "KNOWLEDGE_DIR"):
        match = re.search(rf"{key}=/app/(\S+)", env_text)
        assert match, key
        assert key.lower() in Settings.model_fields
        assert match.group(1).split("/")[0] in copied
