"""`edgeemg demo`: the embedded default job on a simulated band (no hardware, no download)."""

from __future__ import annotations

import argparse
import json

from edgeemg.demo import format_report, run_dsp_demo
from edgeemg.tasks.registry import TASK_NAMES, parse_task, task_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="stream a simulated band through the serial codec and the DSP chain")
    p.add_argument("--task", type=task_argument, default=parse_task("gait"), help=f"one of {', '.join(TASK_NAMES)} (default: gait)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the simulated stream (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="simulated subject (default: %(default)s)")
    p.add_argument("--speed", type=float, default=float("inf"), help="1 = real time; default: as fast as possible")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    report = run_dsp_demo(args.task.value, seconds=args.seconds, seed=args.seed, speed=args.speed)
    print(json.dumps(report.to_dict()) if args.json else format_report(report))
    return 0
