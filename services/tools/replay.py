"""`aiops replay FILE`: sends a log file to a node over HTTP, at a set rate, with a progress bar.

A line that is a JSON object is a LogIn (`POST /api/v3/logs`); any other line is a syslog line
(`POST /api/v3/logs/syslog`), parsed by the node as if it had arrived over UDP."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
import orjson
from tqdm import tqdm


def _batches(lines: list[str], size: int):
    """Consecutive lines of one kind (JSON or syslog) in batches of at most `size`."""
    batch: list[str] = []
    kind = None
    for line in lines:
        line_kind = "json" if line.lstrip().startswith("{") else "syslog"
        if batch and (line_kind != kind or len(batch) >= size):
            yield kind, batch
            batch = []
        kind = line_kind
        batch.append(line)
    if batch:
        yield kind, batch


async def replay_file(
    path: Path, *, url: str, rate: float, token: str | None, ids_out: str | None, batch: int = 500,
    progress: bool = True,
) -> int:
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    headers = {"x-aiops-source": "replay"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    tracking_ids: list[str] = []
    rejected = 0
    started = time.monotonic()
    sent = 0
    bar = tqdm(total=len(lines), unit="line", disable=not progress, file=sys.stderr)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30.0) as client:
        for kind, chunk in _batches(lines, batch if rate <= 0 else max(1, min(batch, int(rate)))):
            if kind == "json":
                response = await client.post(
                    "/api/v3/logs", content="\n".join(chunk).encode(), headers={"content-type": "application/x-ndjson"}
                )
            else:
                response = await client.post(
                    "/api/v3/logs/syslog", content="\n".join(chunk).encode(), headers={"content-type": "text/plain"}
                )
            if response.status_code >= 400:
                print(f"replay: {response.status_code} {response.text[:500]}", file=sys.stderr)
                bar.close()
                return 1
            body = orjson.loads(response.content)
            tracking_ids.extend(body["tracking_ids"])
            rejected += len(body.get("rejected", []))
            sent += len(chunk)
            bar.update(len(chunk))
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    bar.close()
    if ids_out:
        Path(ids_out).write_text("\n".join(tracking_ids) + "\n", encoding="utf-8")
    elapsed = time.monotonic() - started
    print(
        f"replayed {len(lines)} lines: accepted {len(tracking_ids)}, rejected {rejected}, "
        f"{len(lines) / elapsed if elapsed else 0:.0f} lines/s",
        file=sys.stderr,
    )
    return 0


def cmd_replay(args) -> int:
    return asyncio.run(
        replay_file(
            Path(args.file), url=args.url, rate=args.rate, token=args.token, ids_out=args.ids_out,
            batch=args.batch, progress=not args.quiet,
        )
    )


def register(sub) -> None:
    import os

    replay = sub.add_parser("replay", help="send a log file to a node (JSON lines or syslog lines)")
    replay.add_argument("file")
    replay.add_argument("--rate", type=float, default=0.0, help="lines per second; 0 = as fast as accepted")
    replay.add_argument("--url", default=os.environ.get("AIOPS_URL", "http://127.0.0.1:8081"))
    replay.add_argument("--token", default=os.environ.get("AIOPS_TOKEN"), help="an ingest or admin token")
    replay.add_argument("--batch", type=int, default=500)
    replay.add_argument("--ids-out", default=None, help="write the tracking_ids, one per line, to this file")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(func=cmd_replay)
