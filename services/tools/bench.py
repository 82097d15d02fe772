"""`aiops bench`: the platform's performance figures in one run (docs/PERFORMANCE.md), and
`aiops bench seed`: a store with a fleet's incident history for the API figures."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path


def cmd_bench(args: argparse.Namespace) -> int:
    from services.bench.report import KEYS, TARGETS, table, verdicts
    from services.bench.runner import BenchConfig, run_bench

    config = BenchConfig(
        quick=args.quick, smoke=args.smoke, rate=args.rate, anomaly_ratio=args.anomaly_ratio, cache_dir=args.cache_dir,
        incidents=args.incidents, keep=args.keep,
    )
    run = run_bench(config, log=lambda text: print(text, file=sys.stderr, flush=True))
    if args.json:
        body = {
            **{key: run.figures.get(key) for key in KEYS},
            "targets": {key: {"bound": t.bound, "kind": t.kind} for key, t in TARGETS.items()},
            "met": verdicts(run.figures),
            "details": run.details,
            "notes": run.notes,
        }
        sys.stdout.write(json.dumps(body, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(table(run.figures, run.details, run.notes))
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from services.bench.seed import seed

    from services.bench.pool import DEFAULT_CACHE_DIR, seed_dir_for

    data_dir = args.data_dir or seed_dir_for(DEFAULT_CACHE_DIR, args.incidents)
    asyncio.run(seed(data_dir, args.incidents, log=lambda text: print(text, file=sys.stderr, flush=True)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from services.bench.pool import DEFAULT_CACHE_DIR

    bench = sub.add_parser("bench", help="measure the fast path, throughput, insight path, API and memory")
    bench.add_argument("--quick", action="store_true", help="a shorter run (under a minute), with fewer incidents")
    bench.add_argument("--smoke", action="store_true", help="every phase for a moment (for tests; figures mean nothing)")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument("--rate", type=float, default=1000.0, help="fast path rate in lines/s (default 1000)")
    bench.add_argument("--anomaly-ratio", type=float, default=0.05, help="share of anomalous lines (default 0.05)")
    bench.add_argument("--incidents", type=int, default=None, help="incidents in the seeded store (1,000,000; quick 100,000)")
    bench.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help=f"line pool and seeded stores (default {DEFAULT_CACHE_DIR})")
    bench.add_argument("--keep", action="store_true", help="keep the run's data dir (node log, store) for a look")
    bench.set_defaults(func=cmd_bench)
    actions = bench.add_subparsers(dest="bench_command")
    seed = actions.add_parser("seed", help="fill a data dir with incident history (fast bulk insert)")
    seed.add_argument("--incidents", type=int, default=1_000_000)
    seed.add_argument(
        "--data-dir", type=Path, default=None,
        help=f"default: the bench's cache ({DEFAULT_CACHE_DIR}/seed-N), which `aiops bench` then uses",
    )
    seed.set_defaults(func=cmd_seed)
