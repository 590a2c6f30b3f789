"""`edgeemg train TASK (--data PATH... | --simulate) -o CKPT`."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from edgeemg.errors import InvalidInputError, require
from edgeemg.tasks.checkpoint import save_checkpoint
from edgeemg.tasks.registry import TASK_NAMES, task_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a decoder on recordings or simulated data, write a checkpoint")
    p.add_argument("task", type=task_argument, metavar="TASK", help=f"one of {', '.join(TASK_NAMES)}")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", nargs="+", type=Path, metavar="PATH", help="recordings: files or folders")
    src.add_argument("--simulate", action="store_true", help="train on freshly simulated data (no files needed)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="CKPT", help="checkpoint file to write")
    g = p.add_argument_group("training")
    g.add_argument("--model", help="model name (default: the task's first; see the task's docs; motor units: "
                                   "mo_dcnn or filters; keystroke: tds or cnn_lstm stream on the board, cnn_bilstm "
                                   "is the offline bidirectional decoder: whole prompts on the host, not exportable "
                                   "to the board's streaming path)")
    g.add_argument("--epochs", type=int, help="training epochs (default: the task's)")
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: %(default)s")
    g.add_argument("--seed", type=int, default=0, help="seeds data simulation, splits and weights (default: %(default)s)")
    t = p.add_argument_group("task-specific")
    t.add_argument("--labels", choices=("teacher", "truth"), help="motor units: label source (default teacher)")
    t.add_argument("--split", type=float, help="motor units: fraction of each recording used for training")
    t.add_argument("--window", type=int, help="motor units: window length in samples")
    t.add_argument("--step", type=int, help="motor units: window step in samples")
    t.add_argument("--label-delay", type=int, dest="label_delay", metavar="SAMPLES",
                   help="motor units: place the label this many samples after the window centre (lower latency)")
    t.add_argument("--level", type=float, help="motor units with --simulate: plateau excitation (0-1, default 0.3)")
    t.add_argument("--grid", choices=("13x5-8mm", "8x8-4mm", "8x4-10mm"),
                   help="motor units with --simulate: electrode grid (default 13x5-8mm)")
    t.add_argument("--preset", choices=("seed", "cpu"),
                   help="gait: 'seed' trains seed 001's centre-labelled CNN or SVM (--model cnn|svm) instead of the "
                        "default causal decoder; motor units: model widths, 'seed' (the paper's 128/128/64/256, 30 "
                        "epochs) or 'cpu' (trunk 64, narrow heads started from the teacher's filters, 12 epochs with early "
                        "stopping, unlearnable heads dropped; 7-17 min); default: seed on CUDA, cpu on a CPU")
    t.add_argument("--init", type=Path, metavar="CKPT",
                   help="keystroke: fine-tune this checkpoint's model (e.g. a generic one) instead of starting fresh")
    t.add_argument("--users", type=int, metavar="N",
                   help="keystroke with --simulate: train a generic model on N simulated users (--seed ..)")
    t.add_argument("--plot", type=Path, metavar="DIR", help="write training curves as PNG into DIR")
    p.add_argument("--json", action="store_true", help="print a JSON summary of the checkpoint")
    p.set_defaults(run=run)


def task_options(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    """The task-specific options the user actually gave."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _init_model(args: argparse.Namespace) -> str | None:
    """The model of the ``--init`` checkpoint, so fine-tuning needs no ``--model``."""
    if getattr(args, "init", None) is None:
        return None
    from edgeemg.tasks.checkpoint import load_checkpoint

    return load_checkpoint(args.init, task=args.task.value).model


def run(args: argparse.Namespace) -> int:
    require("torch", "training")  # before simulating or reading data: a board install fails at once
    workflow = importlib.import_module(args.task.package + ".workflow")
    model = args.model or _init_model(args) or workflow.MODELS[0]
    if model not in workflow.MODELS:
        raise InvalidInputError(
            f"Invalid --model '{model}' for task '{args.task.value}'. Allowed values are {', '.join(workflow.MODELS)}."
        )
    ckpt = workflow.train(
        args.data,
        simulate=args.simulate,
        model=model,
        epochs=args.epochs,
        device=args.device,
        seed=args.seed,
        progress=not args.quiet,
        options=task_options(args, ("labels", "split", "window", "step", "label_delay", "level", "preset", "init",
                                     "users", "plot")),
    )
    path = save_checkpoint(args.output, ckpt)
    summary = {"checkpoint": str(path), "task": ckpt.task, "model": ckpt.model, **ckpt.meta.get("summary", {})}
    if args.json:
        print(json.dumps(summary), file=args.out)
    else:
        print(path, file=args.out)
        if not args.quiet:
            print(json.dumps(summary, indent=2), file=sys.stderr)
    return 0
