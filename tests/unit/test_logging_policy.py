"""StructuredLogger everywhere: no module under services/ or aiops_core/ logs another way, and a log
line is one JSON object carrying the tracking_id bound by `aiops_core.logging.tracking()`.

The rule, checked on the syntax tree of every module:
- `logging.getLogger` / `from logging import getLogger` and `structlog.get_logger` are allowed only
  in aiops_core/logging.py, the facade that configures structlog once;
- `print(...)` is allowed only in services/tools/, the `aiops` CLI commands, whose purpose is to
  print results (a token, a schema, a report) to the terminal; roles and core code never print.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT_ALLOWED = ("services/tools/",)
LOGGER_FACADE = "aiops_core/logging.py"


def _modules() -> list[Path]:
    return sorted(p for top in ("services", "aiops_core") for p in (ROOT / top).rglob("*.py"))


def violations(relative: str, source: str) -> list[str]:
    """The forbidden logging calls in one module's source, as `path:line: what`."""
    found = []
    tree = ast.parse(source, filename=relative)
    logger_allowed = relative == LOGGER_FACADE
    print_allowed = relative.startswith(PRINT_ALLOWED)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in {"logging", "structlog"} and not logger_allowed:
            for alias in node.names:
                if alias.name in {"getLogger", "get_logger"}:
                    found.append(f"{relative}:{node.lineno}: from {node.module} import {alias.name}")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "print" and not print_allowed:
            found.append(f"{relative}:{node.lineno}: print()")
        if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and not logger_allowed
                and (func.value.id, func.attr) in {("logging", "getLogger"), ("structlog", "get_logger")}):
            found.append(f"{relative}:{node.lineno}: {func.value.id}.{func.attr}()")
    return found


def test_no_module_logs_around_the_structured_logger():
    """No module under services/ or aiops_core/ calls logging.getLogger, structlog.get_logger or print (outside the CLI)."""
    found = []
    for path in _modules():
        relative = path.relative_to(ROOT).as_posix()
        found.extend(violations(relative, path.read_text(encoding="utf-8")))
    assert not found, "use StructuredLogger.get_logger (aiops_core/logging.py):\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("relative", "source", "expected"),
    [
        ("services/ingest/app.py", "import logging\nlog = logging.getLogger(__name__)\n", 1),
        ("services/ingest/app.py", "from logging import getLogger\n", 1),
        ("aiops_core/bus.py", "import structlog\nlog = structlog.get_logger()\n", 1),
        ("services/enrichment/handlers.py", "def f():\n    print('debug')\n", 1),
        ("services/tools/tokens.py", "def f():\n    print('the token')\n", 0),
        (LOGGER_FACADE, "import structlog\nstructlog.get_logger('x')\n", 0),
        ("services/ingest/app.py", "log.info('x')\nlogging.getLevelNamesMapping()\n", 0),
    ],
)
def test_the_rule_tells_forbidden_from_allowed(relative, source, expected):
    """The checker flags getLogger, get_logger and print where they are forbidden, and only there."""
    assert len(violations(relative, source)) == expected


def test_a_log_line_is_json_with_the_bound_tracking_id():
    """Inside `tracking(id)` every line a StructuredLogger writes is one JSON object carrying that id."""
    tracking_id = str(uuid.uuid4())
    program = (
        "from aiops_core.logging import StructuredLogger, tracking\n"
        "log = StructuredLogger.get_logger('probe', service='probe')\n"
        f"with tracking({tracking_id!r}):\n"
        "    log.info('inside', detail=1)\n"
        "log.info('outside')\n"
    )
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    inside, outside = lines
    assert inside["event"] == "inside" and inside["tracking_id"] == tracking_id
    assert inside["service"] == "probe" and inside["level"] == "info" and "timestamp" in inside
    assert outside["event"] == "outside" and "tracking_id" not in outside
    assert result.stdout == ""
