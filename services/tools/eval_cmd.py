"""`aiops eval <what>`: quality measurements on labelled sets.

This module owns the `eval` command; each measurement lives in its own module
`services/tools/eval_<what>.py` that defines `register_eval(eval_subparsers)` (and no
`register`, so it does not become a top-level command). Adding one touches one new file."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import services.tools


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="measure quality on labelled sets (retrieval, detection, ...)")
    eval_sub = parser.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    for info in sorted(pkgutil.iter_modules(services.tools.__path__), key=lambda i: i.name):
        if not info.name.startswith("eval_") or info.name == __name__.rsplit(".", 1)[-1]:
            continue
        module = importlib.import_module(f"services.tools.{info.name}")
        register_eval = getattr(module, "register_eval", None)
        if register_eval:
            register_eval(eval_sub)
