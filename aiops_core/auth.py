"""Bearer tokens with roles. Tokens are random, shown once, and stored only as SHA-256 hashes.

Roles form a ladder for the console and API (viewer < operator < approver < admin); `ingest` is
apart: it may only send logs and metrics (what a log shipper or Vector holds)."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from aiops_core.store import Store

ROLE_LADDER = ("viewer", "operator", "approver", "admin")
ROLES = (*ROLE_LADDER, "ingest")
TOKEN_PREFIX = "aiops_"
TOKEN_COLUMNS = ["token_hash", "name", "role", "created_at", "revoked"]


@dataclass(frozen=True)
class Identity:
    name: str
    role: str

    def has(self, required: str) -> bool:
        if self.role == "admin":
            return True
        if required == "ingest" or self.role == "ingest":
            return self.role == required
        return ROLE_LADDER.index(self.role) >= ROLE_LADDER.index(required)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenStore:
    """Token hashes cached in memory (one dict lookup per request), persisted in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_hash: dict[str, Identity] = {}

    async def load(self) -> None:
        rows = await self.store.query(
            "SELECT token_hash, argMax(name, created_at) AS name, argMax(role, created_at) AS role, "
            "argMax(revoked, created_at) AS revoked FROM aiops.api_tokens GROUP BY token_hash"
        )
        self._by_hash = {r["token_hash"]: Identity(r["name"], r["role"]) for r in rows if not r["revoked"]}

    async def create(self, role: str, name: str) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        token = new_token()
        digest = hash_token(token)
        await self.store.insert("api_tokens", TOKEN_COLUMNS, [[digest, name, role, datetime.now(timezone.utc), 0]])
        self._by_hash[digest] = Identity(name, role)
        return token

    def identify(self, token: str) -> Identity | None:
        return self._by_hash.get(hash_token(token))

    async def ensure_bootstrap_admin(self, data_dir: Path) -> Path:
        """Writes `<data-dir>/admin.token` once (mode 0600); a later start reuses it."""
        path = data_dir / "admin.token"
        if path.exists():
            token = path.read_text(encoding="utf-8").strip()
            if self.identify(token):
                return path
        token = await self.create("admin", "bootstrap-admin")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        return path


def require(role: str):
    """A FastAPI dependency: 401 without a valid token, 403 when its role is not enough."""
    if role not in ROLES:
        raise ValueError(role)

    def check(request: Request) -> Identity:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(401, detail="missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        tokens: TokenStore = request.app.state.runtime.services["auth"]
        identity = tokens.identify(token.strip())
        if identity is None:
            raise HTTPException(401, detail="invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        if not identity.has(role):
            raise HTTPException(403, detail=f"role {identity.role} may not do this (needs {role})")
        return identity

    return check


Viewer = Annotated[Identity, Depends(require("viewer"))]
Operator = Annotated[Identity, Depends(require("operator"))]
Approver = Annotated[Identity, Depends(require("approver"))]
Admin = Annotated[Identity, Depends(require("admin"))]
IngestIdentity = Annotated[Identity, Depends(require("ingest"))]
