"""`aiops up` (the embedded node: every role, the per-line ones in worker processes) and
`aiops serve ROLE` (one role: a compose container, or a worker of the embedded node)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from aiops_core.settings import Settings
from services.roles import ALL_ROLES

# Roles that serve the public API on the api port; the others serve /health and /metrics only.
API_ROLES = {"ingest", "incident-api"}


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    for name in ("data_dir", "api_port", "syslog_port", "ship_id", "nats_port", "node_role"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


# glibc's mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# Blocks from 128 KiB up get their own mapping, returned to the system when freed, and the heap's
# free top goes back once it reaches 1 MiB. glibc starts both at 128 KiB but raises them each time
# a big block is freed (the model's load frees hundreds), up to 32 MiB, after which big buffers
# are carved from heaps that rarely shrink; setting them turns that adjustment off.
_MMAP_THRESHOLD_BYTES = 128 * 1024
_TRIM_THRESHOLD_BYTES = 1024 * 1024


def tune_malloc(arenas: int = 2) -> None:
    """Two malloc arenas instead of one per thread that allocates, and fixed thresholds for
    handing memory back. The node runs a dozen threads (the store's, the embedder's, torch's)
    and each would otherwise keep an arena of its own that is rarely returned: about 100 MB of
    the node's resident memory at 1,000 lines/s; the fixed thresholds another 40-75 MB
    (docs/PERFORMANCE.md). Called before any thread starts; a no-op off glibc."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, arenas)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass  # musl and others have no mallopt: their allocators do not keep per-thread arenas


# How long a thread may hold the GIL while another waits for it: CPython's default is 5 ms.
GIL_SWITCH_SECONDS = 0.001


def favour_event_loop() -> None:
    """Hands the GIL over every millisecond instead of every five. The node's threads (the
    store's, serialising thousands of rows for an insert in Python; the embedder's) otherwise
    keep the event loop, and every message waiting on it, out for 5 ms at a time: with inserts
    running in a thread the loop's worst delay was 27 ms at 5 ms and 11 ms at 1 ms, for the same
    inserts per second (docs/PERFORMANCE.md)."""
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


def tune_process() -> None:
    """What every node and worker process sets before its first thread starts."""
    tune_malloc()
    favour_event_loop()


def run_async(coro) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def cmd_up(args: argparse.Namespace) -> int:
    from services.node import run_node

    tune_process()
    settings = settings_from(args)
    roles = list(ALL_ROLES)
    if args.demo:
        from services.tools.demo import run_node_with_demo

        run_async(run_node_with_demo(settings, roles, scenario=args.scenario, speed=args.speed))
    else:
        run_async(run_node(settings, roles, http_port=settings.api_port))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from services.node import run_node
    from services.workers import die_with_parent

    die_with_parent()  # a worker of the embedded node ends with it (a no-op otherwise)
    tune_process()
    settings = settings_from(args)
    port = args.port if args.port is not None else (
        settings.api_port if args.role in API_ROLES else settings.metrics_port
    )
    run_async(run_node(settings, [args.role], http_port=port))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser("up", help="run the embedded single node (every role; NODE_WORKERS=false: one process)")
    up.add_argument("--data-dir", type=Path, default=None, help="default ./.aiops-data")
    up.add_argument("--api-port", type=int, default=None, help="default 8081")
    up.add_argument("--syslog-port", type=int, default=None, help="default 1514 (UDP and TCP)")
    up.add_argument("--nats-port", type=int, default=None, help="embedded NATS port, default 4222")
    up.add_argument("--ship-id", default=None)
    up.add_argument("--role", dest="node_role", choices=["ship", "shore"], default=None)
    up.add_argument("--demo", action="store_true", help="also run a demo ship sending a realistic stream")
    up.add_argument("--scenario", default="mixed", help="demo scenario")
    up.add_argument("--speed", type=float, default=1.0, help="demo time compression")
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="run one role (one container each in docker-compose)")
    serve.add_argument("role", choices=ALL_ROLES)
    serve.add_argument("--port", type=int, default=None, help="HTTP port (API roles: api port; others: metrics port)")
    serve.add_argument("--data-dir", type=Path, default=None)
    serve.add_argument("--syslog-port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)
