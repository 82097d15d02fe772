"""The compose init scripts: scripts/init_ollama.sh against a real HTTP server speaking
Ollama's API, and scripts/init_qdrant.py against a local Qdrant directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aiops_core.nats_server import free_port
from aiops_core.settings import PROJECT_ROOT
from tests.llm_double import llm_double  # noqa: F401 - fixture

INIT_OLLAMA = PROJECT_ROOT / "scripts" / "init_ollama.sh"
INIT_QDRANT = PROJECT_ROOT / "scripts" / "init_qdrant.py"
TOOLS = ("sed", "head", "grep", "awk", "sleep", "dirname")


def tool_path(tmp_path: Path, http: str) -> str:
    """A PATH holding the script's helpers and only one HTTP client: curl or python3."""
    bin_dir = tmp_path / f"bin-{http}"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / http).symlink_to(sys.executable if http == "python3" else shutil.which(http))
    return str(bin_dir)


def init_ollama(tmp_path: Path, http: str, url: str, **env: str) -> subprocess.CompletedProcess:
    environment = {"PATH": tool_path(tmp_path, http), "OLLAMA_URL": url, **env}
    return subprocess.run(["/bin/sh", str(INIT_OLLAMA)], env=environment, capture_output=True, text=True, timeout=60)


pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


@pytest.mark.parametrize("http", ["curl", "python3"])
def test_present_model_is_not_pulled_again(tmp_path, llm_double, http):
    """The policy's model already in /api/tags: exit 0 without a pull."""
    result = init_ollama(tmp_path, http, llm_double.url)
    assert result.returncode == 0, result.stderr
    assert "already present" in result.stderr
    assert llm_double.pull_requests == []


@pytest.mark.parametrize("http", ["curl", "python3"])
def test_missing_model_is_pulled(tmp_path, llm_double, http):
    """A model that is not there is pulled with POST /api/pull (no streaming), then exit 0."""
    result = init_ollama(tmp_path, http, llm_double.url, OLLAMA_MODEL="llama3.2:1b")
    assert result.returncode == 0, result.stderr
    assert llm_double.pull_requests == [{"model": "llama3.2:1b", "stream": False}]
    assert "llama3.2:1b" in llm_double.models


def test_model_defaults_to_the_policy(tmp_path, llm_double):
    """Without OLLAMA_MODEL the model comes from policies/llm.yaml."""
    policy = tmp_path / "llm.yaml"
    policy.write_text("enabled: true\nmodel: qwen2.5:0.5b   # small\n")
    result = init_ollama(tmp_path, "curl", llm_double.url, LLM_POLICY=str(policy))
    assert result.returncode == 0, result.stderr
    assert llm_double.pull_requests == [{"model": "qwen2.5:0.5b", "stream": False}]


def test_failed_pull_exits_3(tmp_path, llm_double):
    """The registry refusing the model is exit code 3."""
    llm_double.pull_fails = True
    result = init_ollama(tmp_path, "curl", llm_double.url, OLLAMA_MODEL="no-such-model:1b")
    assert result.returncode == 3
    assert "pull of no-such-model:1b failed" in result.stderr


def test_unreachable_ollama_exits_2(tmp_path):
    """Nothing answering /api/tags within the wait is exit code 2."""
    result = init_ollama(tmp_path, "curl", f"http://127.0.0.1:{free_port()}", OLLAMA_WAIT_SECONDS="2")
    assert result.returncode == 2
    assert "did not answer" in result.stderr


def test_init_qdrant_creates_the_collections_once(tmp_path):
    """First run creates both collections, the second finds them (idempotent)."""
    env = {**os.environ, "DATA_DIR": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("QDRANT_URL", None)
    first = subprocess.run([sys.executable, str(INIT_QDRANT)], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "created runbooks, incidents" in first.stdout
    second = subprocess.run([sys.executable, str(INIT_QDRANT)], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "created nothing; already there: incidents, runbooks" in second.stdout
