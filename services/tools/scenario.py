"""`aiops scenario list`, `aiops scenario run NAME` and `aiops scenario export NAME`: the simulated
ship (services/simulator) sent to a node, or written out as labelled lines.

`send_events` is the one sender of simulated traffic (`aiops demo` and `aiops eval detect` use it
too): syslog as UDP datagrams to the syslog listener, exactly as the ship's devices send them, or
in small batches to `POST /api/v3/logs/syslog` (the same parser, but nothing is lost when a
compressed replay sends bursts); telemetry to `POST /api/v3/metrics` in small batches. Each
event is paced by `Scenario.wall_offset_s` (its simulated offset divided by the speed)."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TextIO

import httpx

from aiops_core.logging import StructuredLogger

log = StructuredLogger.get_logger(__name__, service="scenario")

# A long horizon stands for "until stopped": the scenario is generated lazily as it plays.
UNTIL_STOPPED_S = 7 * 24 * 3600.0
DEFAULT_FLUSH_SECONDS = 0.5
# Lines per POST: well under the ingest policy's batch limit.
MAX_BATCH = 200


@dataclass
class Sent:
    """What a replay sent, and the wall-clock instant that stood for the scenario's start."""

    started_at: datetime
    syslog: int = 0
    metric: int = 0
    failed_posts: int = 0


class _Batches:
    """Metric samples (and syslog lines sent over HTTP) waiting for their POST."""

    def __init__(self, client: httpx.AsyncClient, sent: Sent) -> None:
        self.client, self.sent = client, sent
        self.metrics: list[dict] = []
        self.syslog: list[bytes] = []

    def __len__(self) -> int:
        return len(self.metrics) + len(self.syslog)

    async def flush(self) -> None:
        metrics, self.metrics = self.metrics, []
        lines, self.syslog = self.syslog, []
        for start in range(0, len(lines), MAX_BATCH):
            body = b"\n".join(lines[start : start + MAX_BATCH])
            await self._post("/api/v3/logs/syslog", content=body, headers={"content-type": "text/plain"})
        for start in range(0, len(metrics), MAX_BATCH):
            await self._post("/api/v3/metrics", json=metrics[start : start + MAX_BATCH])

    async def _post(self, path: str, **kwargs) -> None:
        try:
            response = await self.client.post(path, **kwargs)
        except httpx.HTTPError as exc:
            self.sent.failed_posts += 1
            log.warning("scenario_post_failed", path=path, error=repr(exc))
            return
        if response.status_code >= 400:
            self.sent.failed_posts += 1
            log.warning("scenario_post_rejected", path=path, status=response.status_code, body=response.text[:300])


async def send_events(
    scenario,
    *,
    url: str,
    syslog: str,
    token: str | None,
    stop: asyncio.Event | None = None,
    syslog_over: Literal["udp", "http"] = "udp",
    flush_seconds: float = DEFAULT_FLUSH_SECONDS,
) -> Sent:
    """Plays `scenario` (a services.simulator Scenario) against a node until it ends or `stop`."""
    host, _, port = syslog.rpartition(":")
    target = (host or "127.0.0.1", int(port))
    headers = {"authorization": f"Bearer {token}"} if token else {}
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    t0 = loop.time()
    sent = Sent(started_at=datetime.now(UTC))
    last_flush = t0
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30.0) as client:
        pending = _Batches(client, sent)
        try:
            for event in scenario.events():
                if stop.is_set():
                    break
                delay = t0 + scenario.wall_offset_s(event) - loop.time()
                if delay > 0:
                    if pending and loop.time() - last_flush >= flush_seconds:
                        await pending.flush()
                        last_flush = loop.time()
                        delay = t0 + scenario.wall_offset_s(event) - loop.time()
                    if delay > 0:
                        try:
                            await asyncio.wait_for(stop.wait(), timeout=delay)
                            break
                        except asyncio.TimeoutError:
                            pass
                if event.kind == "metric":
                    pending.metrics.append(event.payload)
                    sent.metric += 1
                elif syslog_over == "http":
                    pending.syslog.append(event.payload)
                    sent.syslog += 1
                else:
                    sock.sendto(event.payload, target)
                    sent.syslog += 1
                if len(pending) >= MAX_BATCH:  # running behind: never hold a backlog back
                    await pending.flush()
                    last_flush = loop.time()
            await pending.flush()
        finally:
            sock.close()
    return sent


def labelled_lines(scenario, out: TextIO) -> tuple[int, int]:
    """Writes the scenario's syslog lines in the loghub BGL convention: the label first (`-` for
    background, else the name of the fault that produced the line), then the line as sent.
    Returns (lines, anomalous lines)."""
    lines = anomalous = 0
    for event in scenario.events():
        if event.kind != "syslog":
            continue
        label = event.fault or "-"
        out.write(f"{label} {event.payload.decode('utf-8', errors='replace')}\n")
        lines += 1
        anomalous += event.fault is not None
    return lines, anomalous


def _start(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    start = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if start.tzinfo is None:
        raise argparse.ArgumentTypeError("--start needs a timezone, e.g. 2026-03-02T09:00:00Z")
    return start


def cmd_list(args: argparse.Namespace) -> int:
    from services.simulator import FAULTS, SCENARIOS

    print(f"{'scenario':30} {'expected incident':18} {'root device':15} description")
    for name, description in SCENARIOS.items():
        fault = FAULTS.get(name)
        kind, root = (fault.incident_type, fault.root_device) if fault else ("-", "-")
        print(f"{name:30} {kind:18} {root:15} {description}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from services.simulator import build_scenario

    scenario = build_scenario(
        args.name, start=_start(args.start), duration_s=args.duration or UNTIL_STOPPED_S, seed=args.seed, speed=args.speed,
    )
    for fault in scenario.faults[:20]:
        print(f"scenario: {fault.name} at {fault.start:%H:%M:%S}-{fault.end:%H:%M:%S} on {fault.root_device}", file=sys.stderr)
    sent = asyncio.run(send_events(scenario, url=args.url, syslog=args.syslog, token=args.token))
    print(f"scenario: sent {sent.syslog} syslog lines and {sent.metric} metric samples", file=sys.stderr)
    return 1 if sent.failed_posts else 0


def cmd_export(args: argparse.Namespace) -> int:
    from services.simulator import build_scenario

    scenario = build_scenario(args.name, start=_start(args.start), duration_s=args.duration, seed=args.seed)
    if args.labelled == "-":
        lines, anomalous = labelled_lines(scenario, sys.stdout)
    else:
        with Path(args.labelled).open("w", encoding="utf-8") as out:
            lines, anomalous = labelled_lines(scenario, out)
    print(f"scenario: wrote {lines} lines, {anomalous} labelled anomalous", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("scenario", help="simulated ship scenarios: list, run against a node, export")
    scenario_sub = parser.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")

    listing = scenario_sub.add_parser("list", help="the scenarios, with each fault's expected incident")
    listing.set_defaults(func=cmd_list)

    run = scenario_sub.add_parser("run", help="send a scenario to a running node")
    run.add_argument("name")
    run.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    run.add_argument("--duration", type=float, default=0.0, help="simulated seconds; 0 = until stopped")
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--start", default=None, help="simulated start (ISO 8601 with zone); default now")
    run.add_argument("--url", default=os.environ.get("AIOPS_URL", "http://127.0.0.1:8081"))
    run.add_argument("--syslog", default="127.0.0.1:1514", help="host:port of the syslog listener (UDP)")
    run.add_argument("--token", default=os.environ.get("AIOPS_TOKEN"))
    run.set_defaults(func=cmd_run)

    export = scenario_sub.add_parser("export", help="write a scenario's syslog lines, labelled (BGL convention)")
    export.add_argument("name")
    export.add_argument("--duration", type=float, default=3600.0, help="simulated seconds")
    export.add_argument("--seed", type=int, default=7)
    export.add_argument("--start", default="2026-03-02T09:00:00Z", help="simulated start (ISO 8601 with zone)")
    export.add_argument("--labelled", default="-", help="output file, - for stdout")
    export.set_defaults(func=cmd_export)
