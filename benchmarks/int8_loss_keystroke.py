"""int8 CER loss of a keystroke checkpoint, with and without the float output layer (``float_head``).

Exports the checkpoint twice with the shipped recipe (ONNX only; the loss gate
opened so each loss is reported, not refused), held out on a later simulated
session of ``--held-out`` seconds cut into 10 s pieces, each streamed from zero
state, and prints one JSON object: per variant the greedy CER of torch fp32
and of the int8 bundle, the loss and its 95 % bootstrap interval, whether
the bundle's golden self-check passed, and (``--bench S``) what
``edgeemg bench BUNDLE --seconds S --session <held-out session>`` measures on
the bundle with the built-in order-6 LM: character latency p50 and the
model's and the whole hop's compute p99.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/int8_loss_keystroke.py ks.ckpt --held-out 1800
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--held-out", type=float, default=1800.0, help="held-out seconds (default: %(default)s)")
    p.add_argument("--bench", type=float, default=0.0, metavar="S", help="bench each bundle for S seconds")
    a = p.parse_args(argv)

    from edgeemg.export.chain import export_checkpoint
    from edgeemg.export.hooks import DataSource
    from edgeemg.export.recipe import load_recipe
    from edgeemg.runtime.bench import bench_bundle
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.tasks.checkpoint import load_checkpoint
    from edgeemg.tasks.keystroke.lm import build_lm, builtin_corpus_text
    from edgeemg.tasks.keystroke.workflow import SimulationPlan

    ckpt = load_checkpoint(a.checkpoint, task="keystroke")
    plan = SimulationPlan(train_sessions=int(ckpt.meta.get("train_sessions") or 12),
                          seconds=float(ckpt.meta.get("sim_seconds") or 120.0), eval_seconds=a.held_out)
    base = load_recipe("keystroke")
    out = {}
    with tempfile.TemporaryDirectory(prefix="int8-loss-") as tmp:
        lm = Path(tmp) / "lm.bin"
        build_lm(builtin_corpus_text(), order=6).save(lm)
        for head in (False, True):
            recipe = dataclasses.replace(base, quantize=dataclasses.replace(base.quantize, float_head=head),
                                         tolerance=dataclasses.replace(base.tolerance, max_loss_pp=100.0))
            res = export_checkpoint(a.checkpoint, Path(tmp) / f"b{int(head)}", recipe=recipe, formats=("onnx",),
                                    progress=False, source=DataSource(plan=plan, lm=lm))
            d = res.to_dict()
            row = {"fp32_cer": d["metrics"]["torch-fp32"]["cer"], "int8_cer": d["metrics"]["onnx-int8"]["cer"],
                   "loss": d["artifacts"]["onnx-int8"]["loss"], "self_check_ok": load_bundle(res.bundle).self_check.ok}
            if a.bench:
                rep = bench_bundle(load_bundle(res.bundle), seconds=a.bench, seed=int(ckpt.meta.get("seed", 0)),
                                   session=plan.train_sessions + 1)[0].to_dict()
                row.update(char_latency_p50_ms=(rep["true_event"] or {}).get("p50_ms"),
                           model_p99_ms=rep["stages"].get("model", {}).get("p99_ms"),
                           hop_total_p99_ms=rep["stages"].get("total", {}).get("p99_ms"))
            out["float_head" if head else "int8_head"] = row
            print(f"float_head={head}: {json.dumps(out['float_head' if head else 'int8_head'])}", file=sys.stderr,
                  flush=True)
    print(json.dumps({"checkpoint": str(a.checkpoint), "held_out_s": a.held_out, **out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
