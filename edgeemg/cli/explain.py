"""`edgeemg explain CKPT (--data PATH... | --simulate) -o DIR`: saliency maps of a muscle-health CNN."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain",
        help="write gradient x input saliency maps (PNG) of a muscle-health CNN for a few segments per class",
    )
    p.add_argument("checkpoint", type=Path, metavar="CKPT", help="a muscle checkpoint (model attention or cnn)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", nargs="+", type=Path, metavar="PATH", help="emgdb-style WFDB records: files or folders")
    src.add_argument("--simulate", action="store_true", help="explain freshly simulated held-out subjects")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="folder for the PNG files")
    p.add_argument("--per-class", type=int, default=3, dest="per_class", help="segments per class (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="seed of simulated data (default: %(default)s)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: %(default)s")
    p.add_argument("--json", action="store_true", help="print {'files': [...]} as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from edgeemg.tasks.checkpoint import load_checkpoint
    from edgeemg.tasks.muscle_health.explain import explain_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    paths = explain_checkpoint(
        ckpt,
        args.data,
        simulate=args.simulate,
        out_dir=args.output,
        per_class=args.per_class,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    if args.json:
        print(json.dumps({"files": [str(p) for p in paths]}), file=args.out)
    else:
        for path in paths:
            print(path, file=args.out)
        if not args.quiet:
            print(f"wrote {len(paths)} saliency map(s) to {args.output}", file=sys.stderr)
    return 0
