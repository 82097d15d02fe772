"""Serves the Operations Console's standalone build at /console, so the embedded node has a console
without Grafana. The pages are static; every call they make goes to /api/v3 with the user's token,
so /console itself needs none (like /docs)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from aiops_core.settings import PROJECT_ROOT

PLUGIN_DIR = PROJECT_ROOT / "grafana" / "plugins" / "aiops-ops-console"
BUILD_DIR = PLUGIN_DIR / "dist-standalone"
BUILD_HINT = "bash scripts/build_console.sh (or: cd grafana/plugins/aiops-ops-console && npm ci && npm run build:standalone)"

# Asset names carry a content hash, so a browser may keep them; index.html must always be fresh
# so that a rebuilt console is picked up on the next load.
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


def resolve_asset(build_dir: Path, path: str) -> Path | None:
    """The file under build_dir that `path` names, or None (missing, a directory, or outside it)."""
    root = build_dir.resolve()
    candidate = (root / path).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def console_router(build_dir: Path = BUILD_DIR) -> APIRouter:
    router = APIRouter(tags=["console"])

    def index() -> Response:
        index_file = build_dir / "index.html"
        if not index_file.is_file():
            return JSONResponse(
                {"detail": f"the console is not built: no {index_file}. Build it with: {BUILD_HINT}"},
                status_code=503,
            )
        return FileResponse(index_file, media_type="text/html", headers={"cache-control": NO_CACHE})

    @router.api_route("/console", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_root() -> Response:
        # The build's asset URLs are relative to /console/; the trailing slash keeps them working.
        return RedirectResponse("/console/", status_code=307)

    @router.api_route("/console/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_file(path: str) -> Response:
        asset = resolve_asset(build_dir, path) if path else None
        if asset is not None and asset.name != "index.html":
            cache = IMMUTABLE if asset.parent.name == "assets" else NO_CACHE
            return FileResponse(asset, headers={"cache-control": cache})
        if path.startswith("assets/"):
            # A missing hashed asset is a stale page, not a client route: answering index.html
            # would hand the browser HTML where it expects JavaScript.
            return JSONResponse({"detail": f"no console asset {path}"}, status_code=404)
        # Client-side routes (/console/incidents/<id>, ...) are the single-page app's own.
        return index()

    return router
