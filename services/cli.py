"""`aiops`: one CLI for every role and tool. Each command's work lives in its own module."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from aiops_core.settings import Settings

ALL_ROLES = ["ingest", "anomaly-detection", "enrichment", "correlation", "llm-enricher", "incident-api"]
# Roles that serve the public API on --api-port; the others only /health and /metrics.
API_ROLES = {"ingest", "incident-api"}


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    for name in ("data_dir", "api_port", "syslog_port", "ship_id", "nats_port"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "node_role", None):
        overrides["node_role"] = args.node_role
    return Settings(**overrides)


def _run(coro) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:
        asyncio.run(coro)


def cmd_up(args: argparse.Namespace) -> int:
    from services.node import role_factories, run_node

    settings = _settings(args)
    roles = [r for r in ALL_ROLES if r in role_factories()]
    if args.demo:
        from services.tools.demo import run_node_with_demo

        _run(run_node_with_demo(settings, roles, scenario=args.scenario, speed=args.speed))
    else:
        _run(run_node(settings, roles, http_port=settings.api_port))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from services.node import run_node

    settings = _settings(args)
    port = args.port if args.port is not None else (
        settings.api_port if args.role in API_ROLES else settings.metrics_port
    )
    _run(run_node(settings, [args.role], http_port=port))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from services.tools.replay import replay_file

    return asyncio.run(
        replay_file(
            Path(args.file), url=args.url, rate=args.rate, token=args.token, ids_out=args.ids_out,
            batch=args.batch, progress=not args.quiet,
        )
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from services.tools.demo import send_scenario

    return asyncio.run(
        send_scenario(
            url=args.url, syslog=args.syslog, scenario=args.scenario, speed=args.speed,
            duration_s=args.duration, token=args.token,
        )
    )


def cmd_schema(args: argparse.Namespace) -> int:
    from services.tools.schema import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from services.tools.tokens import create_token

    return asyncio.run(
        create_token(
            role=args.role, name=args.name or f"{args.role}-token", url=args.url,
            data_dir=args.data_dir or Settings().data_dir, admin_token=args.token,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiops", description="Ship-edge AIOps platform.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the embedded single node (every role in one process)")
    up.add_argument("--data-dir", type=Path, default=None, help="default ./.aiops-data")
    up.add_argument("--api-port", type=int, default=None, help="default 8081")
    up.add_argument("--syslog-port", type=int, default=None, help="default 1514 (UDP and TCP)")
    up.add_argument("--nats-port", type=int, default=None, help="embedded NATS port, default 4222")
    up.add_argument("--ship-id", default=None)
    up.add_argument("--role", dest="node_role", choices=["ship", "shore"], default=None)
    up.add_argument("--demo", action="store_true", help="also run a demo ship sending a realistic stream")
    up.add_argument("--scenario", default="mixed", help="demo scenario (see `aiops scenario list`)")
    up.add_argument("--speed", type=float, default=1.0, help="demo time compression")
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="run one role (one container each in docker-compose)")
    serve.add_argument("role", choices=ALL_ROLES)
    serve.add_argument("--port", type=int, default=None, help="HTTP port (API roles: api port; others: metrics port)")
    serve.add_argument("--data-dir", type=Path, default=None)
    serve.add_argument("--syslog-port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)

    replay = sub.add_parser("replay", help="send a log file to a node (JSON lines or syslog lines)")
    replay.add_argument("file")
    replay.add_argument("--rate", type=float, default=0.0, help="lines per second; 0 = as fast as accepted")
    replay.add_argument("--url", default=os.environ.get("AIOPS_URL", "http://127.0.0.1:8081"))
    replay.add_argument("--token", default=os.environ.get("AIOPS_TOKEN"))
    replay.add_argument("--batch", type=int, default=500)
    replay.add_argument("--ids-out", default=None, help="write the tracking_ids, one per line, to this file")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(func=cmd_replay)

    demo = sub.add_parser("demo", help="drive a demo ship against a running node")
    demo.add_argument("--url", default=os.environ.get("AIOPS_URL", "http://127.0.0.1:8081"))
    demo.add_argument("--syslog", default="127.0.0.1:1514", help="host:port of the syslog listener (UDP)")
    demo.add_argument("--scenario", default="mixed")
    demo.add_argument("--speed", type=float, default=1.0)
    demo.add_argument("--duration", type=float, default=0.0, help="simulated seconds; 0 = run until stopped")
    demo.add_argument("--token", default=os.environ.get("AIOPS_TOKEN"))
    demo.set_defaults(func=cmd_demo)

    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token with a role; prints it once")
    create.add_argument("--role", required=True, choices=["viewer", "operator", "approver", "admin", "ingest"])
    create.add_argument("--name", default=None)
    create.add_argument("--url", default=os.environ.get("AIOPS_URL", "http://127.0.0.1:8081"))
    create.add_argument("--token", default=os.environ.get("AIOPS_TOKEN"), help="an admin token (default: <data-dir>/admin.token)")
    create.add_argument("--data-dir", type=Path, default=None)
    create.set_defaults(func=cmd_token)

    schema = sub.add_parser("schema", help="write the contracts' JSON Schemas")
    schema.add_argument("--out", default="docs/schemas")
    schema.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
