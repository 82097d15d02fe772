"""Helpers for tests that drive a real `aiops up` node or poll for an outcome."""

from __future__ import annotations

import asyncio
import time
from dataclasses import fields
from pathlib import Path

import httpx

from services.tools.local_node import LocalNode, start_local_node, stop_local_node

ROOT = Path(__file__).resolve().parent.parent


class Node(LocalNode):
    """A running `aiops up` in its own process (services/tools/local_node.py), for tests."""

    def client(self, **kwargs) -> httpx.Client:
        """An HTTP client carrying the node's bootstrap admin token."""
        token = self.token()
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kwargs)


def start_node(data_dir: Path, extra_env: dict[str, str] | None = None, args: list[str] | None = None,
               timeout: float = 120.0) -> Node:
    local = start_local_node(data_dir, env=extra_env, timeout=timeout, args=args)
    return Node(**{f.name: getattr(local, f.name) for f in fields(LocalNode)})


def stop_node(node: Node, timeout: float = 90.0) -> int:
    """SIGTERM and wait (a loaded machine may take a while); the exit code tells a clean stop."""
    return stop_local_node(node, timeout=timeout)


def metric_value(client: httpx.Client, name: str, **labels: str) -> float:
    """The sum of a /metrics series over the samples whose labels include `labels`: the embedded
    node's scrape holds its workers' samples too, each with a `worker` label."""
    from services.bench.processes import Metrics

    return Metrics.parse(client.get("/metrics").text).value(name, **labels)


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.2):
    """Polls until predicate() returns a truthy value; returns it, or fails with the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


async def async_wait_until(predicate, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
