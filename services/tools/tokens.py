"""`aiops token create`: through a running node's API (the node holds the store's lock), or
directly in the data dir when no node is running."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from aiops_core.settings import Settings


async def create_token(*, role: str, name: str, url: str, data_dir: Path, admin_token: str | None) -> int:
    admin_token = admin_token or _bootstrap_token(data_dir)
    if admin_token:
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
                response = await client.post(
                    "/api/v3/tokens", json={"role": role, "name": name},
                    headers={"authorization": f"Bearer {admin_token}"},
                )
            if response.status_code == 201:
                print(response.json()["token"])
                return 0
            print(f"token: {response.status_code} {response.text[:300]}", file=sys.stderr)
            return 1
        except httpx.ConnectError:
            pass
    return await _create_offline(role=role, name=name, data_dir=data_dir)


async def _create_offline(*, role: str, name: str, data_dir: Path) -> int:
    from aiops_core.auth import TokenStore
    from aiops_core.store import Store

    settings = Settings(data_dir=data_dir)
    store = Store(settings.store_dsn())
    try:
        await store.start()
        print(await TokenStore(store).create(role, name))
        return 0
    finally:
        await store.close()


def _bootstrap_token(data_dir: Path) -> str | None:
    path = data_dir / "admin.token"
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def register(sub) -> None:
    import asyncio
    import os

    def run(args) -> int:
        return asyncio.run(
            create_token(
                role=args.role, name=args.name or f"{args.role}-token", url=args.url,
                data_dir=args.data_dir or Settings().data_dir, admin_token=args.token,
            )
        )

    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token with a role; prints it once")
    create.add_argument("--role", required=True, choices=["viewer", "operator", "approver", "admin", "ingest"])
    create.add_argument("--name", default=None)
    create.add_argument("--url", default=os.environ.get("AIOPS_URL", "http://127.0.0.1:8081"))
    create.add_argument("--token", default=os.environ.get("AIOPS_TOKEN"), help="an admin token (default: <data-dir>/admin.token)")
    create.add_argument("--data-dir", type=Path, default=None)
    create.set_defaults(func=run)
