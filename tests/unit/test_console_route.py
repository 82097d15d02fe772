"""The /console route of the incident-api: the standalone console's files, its index fallback for
client-side routes, and a clear 503 when the console has not been built."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.incident_api.console import console_router, resolve_asset

INDEX = "<!doctype html><div id=root></div>"
SCRIPT = "console.log('ops console');"


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    build = tmp_path / "dist-standalone"
    (build / "assets").mkdir(parents=True)
    (build / "index.html").write_text(INDEX)
    (build / "assets" / "console.0123456789ab.js").write_text(SCRIPT)
    (tmp_path / "secret.txt").write_text("not for the browser")
    return build


def client_for(build: Path) -> TestClient:
    app = FastAPI()
    app.include_router(console_router(build))
    return TestClient(app)


def test_index_is_served_fresh(build_dir):
    """/console/ answers the build's index.html with no-cache, so a rebuilt console is picked up."""
    response = client_for(build_dir).get("/console/")
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"


def test_console_without_slash_redirects(build_dir):
    """/console redirects to /console/ so the build's relative asset URLs resolve."""
    response = client_for(build_dir).get("/console", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/console/"


def test_client_routes_fall_back_to_index(build_dir):
    """A deep link such as /console/incidents/<id> gets index.html, the single-page app routes it."""
    response = client_for(build_dir).get("/console/incidents/5b0e3f8e-4a55-4b8f-9c52-0d3a4f1c2b77")
    assert response.status_code == 200
    assert response.text == INDEX


def test_hashed_assets_are_cacheable(build_dir):
    """A content-hashed asset is served as JavaScript with a long immutable cache lifetime."""
    response = client_for(build_dir).get("/console/assets/console.0123456789ab.js")
    assert response.status_code == 200
    assert response.text == SCRIPT
    assert "javascript" in response.headers["content-type"]
    assert "immutable" in response.headers["cache-control"]


def test_missing_asset_is_404_not_index(build_dir):
    """A stale asset URL answers 404 rather than HTML the browser would try to run as a script."""
    response = client_for(build_dir).get("/console/assets/console.ffffffffffff.js")
    assert response.status_code == 404


def test_unbuilt_console_answers_503_with_how_to_build(tmp_path):
    """Without a build the console answers 503 and says how to build it."""
    response = client_for(tmp_path / "nothing-here").get("/console/")
    assert response.status_code == 503
    assert "npm run build:standalone" in response.json()["detail"]
    assert "scripts/build_console.sh" in response.json()["detail"]


def test_paths_outside_the_build_are_never_served(build_dir):
    """A path that climbs out of the build directory resolves to nothing, and the route answers index."""
    assert resolve_asset(build_dir, "../secret.txt") is None
    assert resolve_asset(build_dir, "assets/../../secret.txt") is None
    assert resolve_asset(build_dir, "assets") is None
    assert resolve_asset(build_dir, "assets/console.0123456789ab.js") == (build_dir / "assets" / "console.0123456789ab.js").resolve()
    response = client_for(build_dir).get("/console/..%2Fsecret.txt")
    assert "not for the browser" not in response.text


def test_head_requests_are_answered(build_dir):
    """HEAD /console/ answers 200 without a body, as monitors and `curl -I` expect."""
    response = client_for(build_dir).head("/console/")
    assert response.status_code == 200
    assert response.content == b""
