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


def register(sub) -> None:
    def run(args) -> int:
        for path in write_schemas(Path(args.out)):
            print(path)
        return 0

    schema = sub.add_parser("schema", help="write the contracts' JSON Schemas")
    schema.add_argument("--out", default="docs/schemas")
    schema.set_defaults(func=run)
