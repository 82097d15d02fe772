"""`aiops schema`: the contracts' JSON Schemas, for the docs and for non-Python producers."""

from __future__ import annotations

import json
from pathlib import Path

from aiops_core.models import CONTRACTS


def write_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in CONTRACTS.items():
        path = out_dir / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
