"""`edgeemg eval CKPT --data PATH... [--json]`: score a checkpoint on held-out recordings."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from edgeemg.cli.train import task_options
from edgeemg.tasks.checkpoint import load_checkpoint
from edgeemg.tasks.registry import parse_task


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score a checkpoint on recordings (or simulated held-out data)")
    p.add_argument("checkpoint", type=Path, metavar="CKPT")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", nargs="+", type=Path, metavar="PATH", help="recordings: files or folders")
    src.add_argument("--simulate", action="store_true", help="score on freshly simulated held-out subjects")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: %(default)s")
    p.add_argument("--seed", type=int, default=1, help="seed of simulated held-out data (default: %(default)s)")
    t = p.add_argument_group("task-specific")
    t.add_argument("--plot", type=Path, metavar="DIR", help="write plots (confusion matrix, rasters) as PNG into DIR")
    t.add_argument("--split", type=float, help="motor units: fraction of each recording used for training")
    t.add_argument("--lm", type=Path, help="keystroke: character n-gram LM for beam search")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    task = parse_task(ckpt.task)
    workflow = importlib.import_module(task.package + ".workflow")
    metrics = workflow.evaluate(
        ckpt,
        args.data,
        simulate=args.simulate,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
        options=task_options(args, ("plot", "split", "lm")),
    )
    print(json.dumps(metrics) if args.json else json.dumps(metrics, indent=2), file=args.out)
    return 0
