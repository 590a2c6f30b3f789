"""`edgeemg calibrate CKPT --data WALK... -o USER_CKPT [--json]`: fit a user's gait-event timing offsets."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeemg.errors import require
from edgeemg.tasks.checkpoint import load_checkpoint, save_checkpoint


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="gait: fit a user's heel-strike / toe-off timing from a short walk with foot switches",
        description="Decodes one person's calibration walk (WFDB records with foot-switch channels, about 30 s of "
        "steady walking or more) with a causal gait checkpoint and writes a copy whose heel-strike and toe-off "
        "offsets are that person's (minus the median timing error on the walk). Export the written checkpoint as "
        "usual: the offsets travel in the bundle. Score it on another session of the person, not on the walk.",
    )
    p.add_argument("checkpoint", type=Path, metavar="CKPT", help="causal gait checkpoint (`edgeemg train gait`)")
    p.add_argument("--data", nargs="+", type=Path, required=True, metavar="PATH",
                   help="the person's calibration walk: WFDB records (files or folders) with foot switches")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="CKPT", help="calibrated checkpoint to write")
    p.add_argument("--json", action="store_true", help="print the calibration report as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    require("torch", "calibrating (the walk is decoded by the checkpoint's network)")
    from edgeemg.tasks.gait.calibration import calibrate_checkpoint
    from edgeemg.tasks.gait.recordings import read_recordings

    ckpt = load_checkpoint(args.checkpoint, task="gait")
    new, report = calibrate_checkpoint(ckpt, read_recordings(list(args.data), progress=not args.quiet))
    save_checkpoint(args.output, new)
    if args.json:
        print(json.dumps(report), file=args.out)
        return 0
    for kind, v in report["offsets"].items():
        walk = report["calibration_walk"][kind]
        print(f"{kind.replace('_', ' '):12s} offset {v['before_ms']:+.1f} -> {v['after_ms']:+.1f} ms "
              f"({walk['events']} events; MAE on the walk {walk['before']['mae_ms']:.1f} -> "
              f"{walk['after']['mae_ms']:.1f} ms)", file=args.out)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
