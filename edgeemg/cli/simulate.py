"""`edgeemg simulate TASK -o PATH`: write simulated data in the task's public format."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeemg.data.simulate import PUBLIC_FORMATS, simulate_to_path
from edgeemg.tasks.registry import TASK_NAMES, task_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    formats = "; ".join(f"{t.value}: {f}" for t, f in PUBLIC_FORMATS.items())
    p = sub.add_parser(
        "simulate",
        help="simulate a band recording with ground truth, in the task's public format",
        description=f"Simulate a recording with ground truth and write it in the public format. Formats: {formats}.",
    )
    p.add_argument("task", type=task_argument, metavar="TASK", help=f"one of {', '.join(TASK_NAMES)}")
    p.add_argument("-o", "--output", required=True, metavar="PATH", help="output file or folder")
    g = p.add_argument_group("simulation")
    g.add_argument("--seconds", type=float, help="duration per record (default: the simulator's)")
    g.add_argument("--seed", type=int, default=0, help="fixes the simulated subjects (default: %(default)s)")
    g.add_argument("--session", type=int, default=0, help="a new session of the same subjects (default: %(default)s)")
    g.add_argument("--subjects", type=int, help="one record per subject (gait, muscle; default: the simulator's)")
    g.add_argument("--snr-db", type=float, dest="snr_db", help="signal-to-noise ratio in dB")
    g.add_argument("--text", type=Path, dest="text_file", metavar="FILE",
                   help="keystroke: type the sentences of this UTF-8 file, one per line (default: the built-in corpus)")
    g.add_argument("--level", type=float, help="motor units: plateau excitation as a fraction of maximum (0-1)")
    g.add_argument("--grid", choices=("13x5-8mm", "8x8-4mm", "8x4-10mm"),
                   help="motor units: electrode grid (default 13x5-8mm, 64 ch; 8x8-4mm 64 ch; 8x4-10mm 32 ch)")
    p.add_argument("--json", action="store_true", help="print {'task', 'files'} as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths = simulate_to_path(
        args.task,
        args.output,
        seconds=args.seconds,
        seed=args.seed,
        session=args.session,
        subjects=args.subjects,
        snr_db=args.snr_db,
        text_file=args.text_file,
        level=args.level,
        grid=args.grid,
        progress=not args.quiet,
    )
    if args.json:
        print(json.dumps({"task": args.task.value, "files": [str(p) for p in paths]}), file=args.out)
    else:
        for path in paths:
            print(path, file=args.out)
    if not args.quiet:
        print(f"wrote {len(paths)} file(s) for task '{args.task.value}'", file=sys.stderr)
    return 0
