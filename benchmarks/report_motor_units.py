"""Motor-unit evidence table: teacher and MO-DCNN student per excitation level, and the low-latency cost.

Not a pytest module (no ``test_`` prefix): it trains, so it takes minutes. Run::

    .venv/bin/python benchmarks/report_motor_units.py --json motor_units_report.json

For each level (10, 30, 50 % of maximum excitation by default) one simulated
contraction (``edgeemg simulate motor-units``: 20 dB SNR, 60 s, seed 0) is
decomposed on its first two thirds (the teacher), the student learns the
teacher's labels on those windows, and both are scored against the simulator's
discharge truth on the last third (``edgeemg eval --json``'s figures). Then,
at ``--latency-level``, the same training with ``--label-delay`` (the label
placed later in the window) beside the default, so the accuracy cost of the
lower latency is measured with identical widths, epochs and data.

The seed's (Wen et al. 2021) figures are printed beside ours: sensitivity /
precision 97 / 95 % on simulated signals, neural drive r 0.88-0.95.

The student is trained with ``--preset``'s plan (``cpu`` by default: C1 started
as the teacher's separation filters, narrow heads, early stopping, weak heads
removed; ``seed``: the seed's widths, minutes per epoch on a CPU); ``--epochs``
and ``--widths`` override it, and the table states what was used. Training
time is the process's CPU time (``time.process_time``: one thread, whatever
else the machine runs) beside the wall time.

``--model filters`` prints the same rows for the separation-filter decoder
(``edgeemg train motor-units --model filters``): the teacher's filters,
re-estimated on the causal stream, scored at +-0.5 ms (the student at half a
step).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from typing import Any

SEED_FIGURES = {"sensitivity": 0.97, "precision": 0.95, "neural_drive_r": "0.88-0.95"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", type=float, nargs="+", default=[0.1, 0.3, 0.5], help="default: %(default)s")
    p.add_argument("--model", choices=("mo_dcnn", "filters"), default="mo_dcnn",
                   help="the student, or the teacher's separation filters as the decoder (no epochs; "
                        "implies --no-latency) (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=60.0, help="default: %(default)s (the seed's 60 s plateau)")
    p.add_argument("--snr-db", type=float, default=20.0, help="default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="simulated subject (default: %(default)s)")
    p.add_argument("--preset", choices=("cpu", "seed"), default="cpu", help="default: %(default)s")
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    p.add_argument("--widths", default=None, metavar="C12,C3,C4,F1",
                   help="trunk, C3, C4 filters and F1 units (seed: 128,128,64,256; default: the preset's)")
    p.add_argument("--max-units", type=int, default=20, help="default: %(default)s")
    p.add_argument("--pos-weight", type=float, default=None,
                   help="BCE weight of the positive class (None: the seed's plain BCE)")
    p.add_argument("--lr-decay", type=float, default=None,
                   help="cosine learning-rate schedule down to this fraction of the rate (None: constant)")
    p.add_argument("--latency-level", type=float, default=0.3, help="default: %(default)s")
    p.add_argument("--label-delay", type=int, default=20, help="low-latency configuration (default: %(default)s)")
    p.add_argument("--no-latency", action="store_true", help="skip the low-latency comparison")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--json", metavar="PATH", help="also write every figure (per unit too) as JSON")
    return p.parse_args(argv)


def run_one(level: float, args: argparse.Namespace, plan: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Train on the first two thirds, evaluate the last third; the eval report plus timings."""
    from edgeemg.tasks.motor_units import workflow as wf

    sim = wf.SimulationPlan(seconds=args.seconds, level=level, snr_db=args.snr_db)
    t0, c0 = time.perf_counter(), time.process_time()
    filters = args.model == "filters"
    ck = wf.train(None, simulate=True, model=args.model, epochs=None if filters else args.epochs, device="cpu",
                  seed=args.seed, progress=False, options=dict(options), plan=plan, simulation=sim)
    t1, c1 = time.perf_counter(), time.process_time()
    rep = wf.evaluate(ck, None, simulate=True, seed=args.seed, device="cpu", progress=False, options={})
    rep["train_s"], rep["train_cpu_s"], rep["eval_s"] = t1 - t0, c1 - c0, time.perf_counter() - t1
    rep["dropped_units"] = ck.meta.get("dropped_units", [])
    rep["n_heads"] = len(ck.meta["labels"])
    rep["best_epoch"] = ck.meta["summary"].get("best_epoch", "-")
    rep["val_mean_f1"] = ck.meta["summary"].get("val_mean_f1")
    rep["heads_truth_ids"] = [u.get("truth_id") for u in ck.meta["units"]]
    return rep


def row(name: str, block: dict[str, Any] | None) -> str:
    if not block:
        return f"{name:<30}{'-':>7}{'-':>7}{'-':>7}{'-':>14}{'-':>7}"
    units = f"{block['units_identified']}/{block['units_present']}"
    if block.get("n_heads"):
        units += f" ({block['n_heads']})"
    return (f"{name:<30}{block['sensitivity']:>7.3f}{block['precision']:>7.3f}{block['f1']:>7.3f}"
            f"{units:>14}{block['neural_drive_r']:>7.3f}")


def on_teacher_row(block: dict[str, Any] | None) -> str:
    """The student on every head whose teacher unit is a true unit (``eval``'s ``on_teacher_units``)."""
    if not block:
        return f"{'  on the teacher units':<30}{'-':>7}{'-':>7}{'-':>7}"
    return (f"{'  on the teacher units':<30}{block['sensitivity']:>7.3f}{block['precision']:>7.3f}{block['f1']:>7.3f}"
            f"{block['heads']:>14}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from edgeemg.tasks.motor_units import plans

    torch.set_num_threads(args.threads)
    plan = replace(getattr(plans, plans.PRESETS[args.preset]), max_units=args.max_units)
    if args.epochs is not None:
        plan = replace(plan, epochs=args.epochs)
    if args.widths is not None:
        c12, c3, c4, f1 = (int(v) for v in args.widths.split(","))
        plan = replace(plan, trunk_filters=c12, c3_filters=c3, c4_filters=c4, hidden=f1)
    extra: dict[str, Any] = {}
    if args.pos_weight is not None or args.lr_decay is not None:
        extra = {k: v for k, v in (("pos_weight", args.pos_weight), ("lr_decay", args.lr_decay)) if v is not None}
        plan = replace(plan, **extra)
    head = f"{'':<30}{'sens':>7}{'prec':>7}{'F1':>7}{'units (heads)':>14}{'r':>7}"
    widths = f"{plan.trunk_filters},{plan.c3_filters},{plan.c4_filters},{plan.hidden}"
    out: dict[str, Any] = {"settings": {**vars(args), "plan": {"widths": widths, "epochs": plan.epochs, **extra}},
                           "seed_figures": SEED_FIGURES, "levels": {}, "latency": {}}
    print(f"motor units: {args.seconds:g} s at {args.snr_db:g} dB, seed {args.seed}, train first 2/3, test last 1/3;"
          f" student '{args.preset}' preset, widths {widths}, {plan.epochs} epochs at most (best by validation mean F1)"
          + (f", {extra}" if extra else ""), file=sys.stderr)
    lines = [head]
    for level in args.levels:
        rep = run_one(level, args, plan, {})
        out["levels"][f"{100 * level:g}"] = rep
        lines += [row(f"{100 * level:g} % teacher", rep["teacher"]),
                  row(f"{100 * level:g} % {'filters' if args.model == 'filters' else 'student'} "
                      f"({rep['n_heads']} heads)", rep),
                  on_teacher_row(rep.get("on_teacher_units")),
                  f"{'':<30}train {rep['train_cpu_s']:.0f} CPU s ({rep['train_s']:.0f} s wall), best epoch "
                  f"{rep['best_epoch']}, dropped heads (truth id, validation F1): "
                  f"{[(d.get('truth_id'), round(d['val_f1'], 3)) for d in rep['dropped_units']]}"]
        print("\n".join(lines[-4:]), file=sys.stderr)
    lines.append(f"{'seed 004 (simulated)':<30}{0.97:>7.2f}{0.95:>7.2f}{'':>7}{'':>14}{'0.88-0.95':>10}")
    if not args.no_latency and args.model == "mo_dcnn":
        lat = [("default (label at the centre)", {}), (f"--label-delay {args.label_delay}",
                                                        {"label_delay": args.label_delay})]
        lines += ["", f"low latency at {100 * args.latency_level:g} %:" + head[len("low latency at xx %:") - 1:]]
        for name, opts in lat:
            key = f"{100 * args.latency_level:g}"
            rep = out["levels"].get(key) if not opts and key in out["levels"] else None
            rep = rep or run_one(args.latency_level, args, plan, opts)
            out["latency"][name] = rep
            lines.append(row(f"{name} {rep['algorithmic_latency_ms']:.1f} ms", rep))
            print(lines[-1], file=sys.stderr)
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
