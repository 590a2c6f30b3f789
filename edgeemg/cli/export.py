"""`edgeemg export --int8 CKPT [--recipe export/TASK.toml] [--target NAME] [--formats onnx,tflite] -o BUNDLE`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeemg.errors import InvalidInputError, require


def _formats(value: str) -> tuple[str, ...]:
    from edgeemg.export.recipe import FORMATS

    items = tuple(v.strip().lower() for v in value.split(",") if v.strip())
    bad = [v for v in items if v not in FORMATS]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"--formats takes a comma list of {', '.join(FORMATS)}, got '{value}'")
    return items


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="prune, quantize to int8 and convert a checkpoint to a verified ONNX/TFLite bundle",
        description="Prune, fine-tune, quantize to int8 and convert a trained checkpoint to ONNX and TFLite, verify "
        "every artifact against PyTorch and the task metric, and write a bundle folder atomically. Exits 1 and "
        "writes nothing when int8 loses more than the recipe allows.",
    )
    p.add_argument("checkpoint", type=Path, metavar="CKPT", help="checkpoint from `edgeemg train`")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="BUNDLE", help="bundle folder to create")
    g = p.add_argument_group("export")
    g.add_argument("--int8", action="store_true", required=True,
                   help="quantize to int8 (required: the only export mode; fp32 twins are always included)")
    g.add_argument("--recipe", metavar="TOML", help="export recipe (default: export/<task>.toml)")
    g.add_argument("--target", metavar="NAME", help="board profile from targets/ recorded in the manifest, e.g. rpi4")
    g.add_argument("--formats", type=_formats, metavar="LIST", help="comma list of onnx,tflite (default: the recipe's)")
    g.add_argument("--data", nargs="+", type=Path, metavar="PATH",
                   help="training recordings for calibration and fine-tuning (default: re-simulate a --simulate "
                   "checkpoint with its seed, or the paths it was trained on)")
    g.add_argument("--lm", type=Path, metavar="LM",
                   help="keystroke: character LM from `edgeemg lm build`; copied into the bundle (hashed like every "
                   "file) and the board decoder becomes the prefix beam search with shallow fusion (default: greedy)")
    g.add_argument("--force", action="store_true", help="replace BUNDLE if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require("torch", "exporting")
    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.hooks import DataSource

    if not args.int8:  # pragma: no cover - argparse enforces it
        raise InvalidInputError("edgeemg export needs --int8")
    result = export_checkpoint(
        args.checkpoint,
        args.output,
        recipe=args.recipe,
        formats=args.formats,
        target=args.target,
        source=DataSource(data=tuple(args.data) if args.data else None, lm=args.lm),
        overwrite=args.force,
        progress=not args.quiet,
    )
    summary = result.to_dict()
    if args.json:
        print(json.dumps(summary), file=args.out)
    else:
        print(result.bundle, file=args.out)
        if not args.quiet:
            from edgeemg.cli.inspect import format_report

            print(format_report(result.manifest), file=sys.stderr)
    return 0
