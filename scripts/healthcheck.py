#!/usr/bin/env python3
"""Container health check: exit 0 when the role in this container answers GET /health with 200.

`healthcheck.py PORT` asks that port; with no argument it asks the API port and the metrics port
from the settings (an API role serves /health on the first, any other role on the second)."""

from __future__ import annotations

import sys
import urllib.request

from aiops_core.settings import Settings


def ports(argv: list[str]) -> list[int]:
    if argv:
        return [int(argv[0])]
    settings = Settings()
    return [settings.api_port, settings.metrics_port]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as response:
            return response.status == 200
    except OSError:  # refused, timed out, or an HTTP error status such as 503 (degraded)
        return False


def main(argv: list[str]) -> int:
    return 0 if any(healthy(port) for port in ports(argv)) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
