"""`aiops chaos`: the fault run behind `make chaos` (services/chaos/harness.py).

Ends with one line `lost=N duplicated=M` and exits non-zero unless both are 0."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path


def cmd_chaos(args: argparse.Namespace) -> int:
    from services.chaos.harness import run_chaos
    from services.chaos.verify import Tally

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="aiops-chaos-"))
    results = asyncio.run(run_chaos(work_dir, size=args.events, deployments=tuple(args.deployment or ("embedded", "split"))))
    total = Tally()
    for result in results:
        total = total.add(result.tally)
        sys.stdout.write(
            f"{result.deployment}: {result.accepted} events accepted in {result.seconds:.0f} s; "
            f"faults: {'; '.join(result.faults)}; dead-lettered: {result.dead_lettered}; "
            f"physical rows before merge: {result.physical_rows}; {result.tally.summary()} "
            f"lost by kind {dict(result.tally.lost)} duplicated by kind {dict(result.tally.duplicated)}\n"
        )
        for note in result.tally.notes:
            sys.stdout.write(f"  {note}\n")
    sys.stdout.write(total.summary() + "\n")
    ok = total.lost_total == 0 and total.duplicated_total == 0
    if ok and not args.keep and args.work_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    chaos = sub.add_parser("chaos", help="ingest a labelled stream while killing the node, each role and NATS; count")
    chaos.add_argument("--events", type=int, default=1000, help="stream length, default 1000")
    chaos.add_argument("--deployment", action="append", choices=["embedded", "split"], default=None,
                       help="which deployment to run (repeatable); default both")
    chaos.add_argument("--work-dir", type=Path, default=None, help="default a new temporary dir")
    chaos.add_argument("--keep", action="store_true", help="keep the temporary dir after a clean run")
    chaos.set_defaults(func=cmd_chaos)
