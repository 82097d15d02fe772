"""Snapshot files of the detector state in `<data_dir>/detector-state/`: JSON, replaced atomically,
so a crash mid-write leaves the previous snapshot intact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

TEMPLATES_FILE = "templates.json"
BASELINES_FILE = "baselines.json"


def state_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "detector-state"


def write_snapshot(directory: Path, name: str, data: bytes) -> None:
    """Writes `data` to a temporary file, syncs it and renames it over `name`."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    temporary = directory / f".{name}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)


def read_snapshot(directory: Path, name: str) -> Any | None:
    """The snapshot's data, None when there is none; raises ValueError when it is unreadable."""
    path = directory / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
