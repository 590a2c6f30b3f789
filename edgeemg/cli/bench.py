"""`edgeemg bench BUNDLE [--target NAME] [--json] [--plot DIR]`: latency by stage, from the true event, vs torch.

The PyTorch-eager fp32 reference is rebuilt from the checkpoint the bundle was
exported from (``--checkpoint``, or the path the manifest records) and timed on
the same inputs in the same process as the int8 model. torch is imported here,
lazily, never by the runtime; without torch (a board) or without the checkpoint
the report gives the fp32-ONNX vs int8 ratio and says why torch is missing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="latency of a bundle on this machine: per stage, end to end, from the true event, vs PyTorch eager",
        description="Run the engine over a simulated band faster than real time and report, per hop, the compute "
        "of each stage (frame decode, DSP, model, task decoder) and end to end (median / p99 / max), the "
        "algorithmic latency, the total against the latency budget, the real-time factor, the latency from each "
        "simulated true event to the event that reports it, and the int8 model against fp32 ONNX and PyTorch "
        "eager fp32 on the same inputs.",
    )
    p.add_argument("bundle", metavar="BUNDLE", help="bundle folder from `edgeemg export`")
    p.add_argument("--target", metavar="NAME", help="board profile from targets/ (backend, threads, budget)")
    p.add_argument("--seconds", type=float, default=20.0, help="simulated band length (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="simulated subject (default: %(default)s)")
    p.add_argument("--session", type=int, default=0,
                   help="recording session of that subject; pick one the model did not train on for held-out "
                        "true-event latencies (default: %(default)s)")
    p.add_argument("--precision", choices=("int8", "fp32"), default="int8", help="engine model (default: %(default)s)")
    p.add_argument("--checkpoint", type=Path, metavar="CKPT",
                   help="checkpoint the bundle was exported from, for the PyTorch eager fp32 reference "
                   "(default: the checkpoint path `edgeemg export` recorded in the manifest, if that file is on "
                   "this machine and unchanged)")
    p.add_argument("--reps", type=int, default=200, help="model calls per timing (default: %(default)s)")
    p.add_argument("--plot", type=Path, metavar="DIR", help="write latency histograms (PNG) into DIR")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(run=run)


def eager_module(checkpoint: Path) -> Any:
    """The checkpoint's float network as PyTorch runs it (imports torch and the task's training side)."""
    from edgeemg.export.hooks import HOOK_MODULES
    from edgeemg.tasks.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint)
    hooks = importlib.import_module(HOOK_MODULES[ck.task])
    if hasattr(hooks, "build_module"):
        return hooks.build_module(ck).eval()
    workflow = importlib.import_module(hooks.__name__.rsplit(".", 1)[0] + ".workflow")
    return workflow.build_network(ck).eval()


def torch_eager_ms(checkpoint: Path, x: Any, *, reps: int, threads: int) -> float:
    """Median ms of one batch-1 forward pass of the fp32 checkpoint model in PyTorch eager mode."""
    import torch

    from edgeemg.runtime.bench import time_model

    torch.set_num_threads(threads)
    module = eager_module(checkpoint)
    with torch.inference_mode():
        return 1000.0 * time_model(lambda v: module(torch.from_numpy(v)), x, reps=reps)


def _checkpoint_for(bundle: Any, given: Path | None) -> tuple[Path | None, str | None]:
    if given is not None:
        return (given, None) if given.is_file() else (None, f"--checkpoint {given} does not exist")
    from edgeemg.runtime.bundle import sha256_file

    source = bundle.manifest.get("source_checkpoint") or {}
    recorded = source.get("path")
    if not recorded:
        return None, "the bundle records no checkpoint path (pass --checkpoint CKPT)"
    if not Path(recorded).is_file():
        return None, f"the checkpoint the bundle records, {recorded}, is not on this machine (pass --checkpoint CKPT)"
    if sha256_file(recorded) != source.get("sha256"):
        return None, f"{recorded} changed since the export (its sha256 differs; pass --checkpoint CKPT)"
    return Path(recorded), None


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from edgeemg.runtime.bench import bench_bundle, format_report
    from edgeemg.runtime.bundle import load_bundle

    bundle = load_bundle(args.bundle, precision=args.precision)
    if not args.quiet:  # simulating and decoding the band takes seconds to minutes on a small board
        print(f"bench: simulating {args.seconds:g} s of '{bundle.task}' band (seed {args.seed}) and decoding it, "
              f"then timing each model {args.reps} times ...", file=sys.stderr, flush=True)
    report, x = bench_bundle(bundle, target=args.target, seconds=args.seconds, seed=args.seed, session=args.session,
                             precision=args.precision, reps=args.reps)
    notes = list(report.notes)
    model_ms = dict(report.model_ms)
    ckpt, why = _checkpoint_for(bundle, args.checkpoint)
    if ckpt is not None:
        try:
            threads = 1 if report.target is None else load_threads(args.target)
            model_ms["torch-eager"] = torch_eager_ms(ckpt, x, reps=args.reps, threads=threads)
        except ImportError as exc:
            notes.append(f"PyTorch eager fp32 not measured: torch is not installed ({exc}); "
                         "the fp32 ONNX vs int8 ratio stands in")
    else:
        notes.append(f"PyTorch eager fp32 not measured: {why}; the fp32 ONNX vs int8 ratio stands in")
    report = dataclasses.replace(report, model_ms=model_ms, notes=tuple(notes))
    if args.plot:
        from edgeemg.tasks.plots import plot_latency

        print(f"wrote {plot_latency(report, args.plot)}", file=sys.stderr)
    print(json.dumps(report.to_dict()) if args.json else format_report(report), file=args.out)
    return 0


def load_threads(target: str) -> int:
    from edgeemg.runtime.targets import load_target

    return load_target(target).intra_op_threads
