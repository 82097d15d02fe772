"""`aiops demo` and `aiops up --demo`: a demo ship sending its realistic stream to a node.

Syslog goes over UDP to the syslog listener, exactly as the ship's devices send it; telemetry
goes to `POST /api/v3/metrics` in small batches (the sender is services/tools/scenario.py's)."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timezone

from aiops_core.settings import Settings
from services.tools.scenario import UNTIL_STOPPED_S, send_events


async def send_scenario(
    *, url: str, syslog: str, scenario: str, speed: float, duration_s: float, token: str | None,
    stop: asyncio.Event | None = None,
) -> int:
    from services.simulator.scenario import build_scenario

    start = datetime.now(timezone.utc)
    built = build_scenario(scenario, start=start, duration_s=duration_s or UNTIL_STOPPED_S, speed=speed)
    sent = await send_events(built, url=url, syslog=syslog, token=token, stop=stop)
    print(f"demo: sent {sent.syslog} syslog lines and {sent.metric} metric samples", file=sys.stderr)
    return 0


async def run_node_with_demo(settings: Settings, roles: list[str], *, scenario: str, speed: float) -> None:
    """The node, and once it is up, the demo ship sending to it, until the node stops."""
    from services.node import run_node

    started = asyncio.Event()
    stop = asyncio.Event()
    node = asyncio.create_task(run_node(settings, roles, http_port=settings.api_port, started=started, stop=stop))
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({node, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if node.done():
        waiter.cancel()
        await node
        return
    token = None
    token_file = settings.data_dir / "admin.token"
    if token_file.exists():
        token = token_file.read_text(encoding="utf-8").strip()
    demo = asyncio.create_task(
        send_scenario(
            url=f"http://127.0.0.1:{settings.api_port}", syslog=f"127.0.0.1:{settings.syslog_port}",
            scenario=scenario, speed=speed, duration_s=0.0, token=token, stop=stop,
        )
    )
    await node
    stop.set()
    await asyncio.gather(demo, return_exceptions=True)


def cmd_demo(args) -> int:
    return asyncio.run(
        send_scenario(
            url=args.url, syslog=args.syslog, scenario=args.scenario, speed=args.speed,
            duration_s=args.duration, token=args.token,
        )
    )


def register(sub) -> None:
    import os

    demo = sub.add_parser("demo", help="drive a demo ship against a running node")
    demo.add_argument("--url", default=os.environ.get("AIOPS_URL", "http://127.0.0.1:8081"))
    demo.add_argument("--syslog", default="127.0.0.1:1514", help="host:port of the syslog listener (UDP)")
    demo.add_argument("--scenario", default="mixed")
    demo.add_argument("--speed", type=float, default=1.0)
    demo.add_argument("--duration", type=float, default=0.0, help="simulated seconds; 0 = run until stopped")
    demo.add_argument("--token", default=os.environ.get("AIOPS_TOKEN"))
    demo.set_defaults(func=cmd_demo)
