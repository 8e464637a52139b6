"""`python -m bench`: the whole benchmark, written to bench/RESULTS.md (see bench/runner.py)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import uvloop

from bench import report, runner
from bench.workloads import rest

POSTGRES_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tandem_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["embedded", "distributed"],
        default=["embedded", "distributed"],
    )
    parser.add_argument(
        "--workloads",
        nargs="+",
        choices=runner.WORKLOADS,
        default=list(runner.WORKLOADS),
        help="run (and profile) only these",
    )
    parser.add_argument(
        "--r1-operations",
        nargs="+",
        choices=rest.OPERATIONS,
        default=[],
        metavar="NAME",
        help=f"R1 times only these (and skips its syncs): {', '.join(map(repr, rest.OPERATIONS))}",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the pipeline")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiling passes")
    parser.add_argument("--note", action="append", default=[], help="a line for RESULTS.md")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "RESULTS.md")
    args = parser.parse_args()
    scale = runner.QUICK if args.quick else runner.FULL
    command = "python -m bench " + shlex.join(sys.argv[1:])
    run = uvloop.run(
        runner.run(
            scale,
            args.modes,
            POSTGRES_URL,
            REDIS_URL,
            not args.no_profile,
            command.strip(),
            tuple(args.workloads),
            tuple(args.r1_operations),
        )
    )
    report.write(run, args.output, args.note)
    runner.say(f"wrote {args.output}")
    return 1 if run.problems or any(m.failures for m in run.modes) else 0


if __name__ == "__main__":
    sys.exit(main())
