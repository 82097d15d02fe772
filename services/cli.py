"""`aiops`: one CLI for every role and tool.

Each command lives in its own module under `services/tools/` that defines
`register(subparsers)`; this file only discovers them, so adding a command touches one file."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import services.tools


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiops", description="Ship-edge AIOps platform.")
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(services.tools.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"services.tools.{info.name}")
        register = getattr(module, "register", None)
        if register:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
