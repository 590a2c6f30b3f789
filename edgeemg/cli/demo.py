"""`edgeemg demo [--task TASK] [--seconds S]`: small int8 model (built once), a simulated band decoded live."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeemg.errors import InvalidInputError
from edgeemg.tasks.registry import TASK_NAMES, parse_task, task_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="end to end without hardware: small int8 model (cached), simulated band over a pty, live events, latency",
        description="The first run trains a small model of the task on simulated data and exports it to an int8 "
        "bundle (cached). Then a simulated band streams over a pseudo-terminal, the on-device engine decodes it "
        "(serial reader, DSP, int8 model, task decoder) and prints events live, and the run ends with the latency "
        "table of `edgeemg bench`.",
    )
    p.add_argument("--task", type=task_argument, default=parse_task("gait"),
                   help=f"one of {', '.join(TASK_NAMES)} (default: gait)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the simulated stream (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="simulated subject (default: %(default)s)")
    p.add_argument("--speed", type=float, default=1.0, help="x real time (default: %(default)s)")
    p.add_argument("--cache", type=Path, metavar="DIR",
                   help="model cache (default: $EDGEEMG_CACHE or ~/.cache/edgeemg)")
    p.add_argument("--rebuild", action="store_true", help="train and export again even if a cached bundle exists")
    p.add_argument("--json", action="store_true", help="events on stderr, one JSON report on stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edgeemg.demo import REAL_BAND_HOWTO, run_demo

    if not args.seconds > 0 or not args.speed > 0:
        raise InvalidInputError(f"--seconds and --speed must be > 0, got {args.seconds} and {args.speed}")
    report = run_demo(args.task.value, seconds=args.seconds, seed=args.seed, speed=args.speed, cache=args.cache,
                      rebuild=args.rebuild, progress=not args.quiet, out=sys.stderr if args.json else args.out)
    if args.json:
        print(json.dumps(report.to_dict()), file=args.out)
    else:
        print(report.table, file=args.out)
        print(report.summary["line"], file=args.out)
        if not args.quiet:
            print("\n" + REAL_BAND_HOWTO, file=sys.stderr)
    return 0
