"""Motor-unit bundles on the board path, on the held-out last third of the contraction each was trained on.

Not a pytest module. Run, one bundle per level (``edgeemg export --int8`` of a
``--simulate`` checkpoint)::

    .venv/bin/python benchmarks/board_motor_units.py B10 B30 B50 --json board.json

``edgeemg bench`` simulates a fresh 30 % band; a model decodes the units of the
contraction it learnt, so here the band is that contraction itself (the
checkpoint's simulation plan and seed, re-simulated), from one window before
its train/held-out split to its end: the engine (1 thread, int8 ONNX) streams
it through ``bench_bundle`` and reports, per level,

* true discharge -> emitted spike latency (p50 / p99; device time of the
  window's newest sample minus the truth, plus the frame wait and that hop's
  compute: ``edgeemg bench``'s figure), for the heads mapped to a true unit;
* sensitivity / precision of those heads against their true units, one-to-one
  within each head's report window (the manifest's ``truth_events``), from the
  bundle's int8 ONNX and board decoder run offline over the same samples (what
  the stream emits, tests/test_task_motor_units_board.py);
* model compute per hop (median / p99), and the int8 model per window;
* with ``--heads N``: an N-head model at the first bundle's widths (C1's
  first N filters float, as the export keeps a teacher-started C1), exported
  with the shipped recipe's quantization, timed per window (one thread, batch
  1; wall and thread CPU time, median / p99): the issue's 20-unit compute goal.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundles", nargs="+", help="bundle folders (motor-units, from --simulate checkpoints)")
    p.add_argument("--reps", type=int, default=500, help="model calls per timing (default: %(default)s)")
    p.add_argument("--heads", type=int, default=None, help="also time an N-head model at the bundles' widths")
    p.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    return p.parse_args(argv)


def held_out_band(meta: dict[str, Any], window: int) -> tuple[Any, int]:
    """(BandSignal of the checkpoint's contraction from one window before its split, first sample's index)."""
    from edgeemg.data.recording import BandSignal, TruthEvent
    from edgeemg.data.sim_motor_units import simulate_motor_units
    from edgeemg.tasks.motor_units.plans import SimulationPlan

    plan = SimulationPlan(**meta["simulation"])
    sim = simulate_motor_units(plan.seconds, seed=int(meta.get("seed", 0)), level=plan.level, snr_db=plan.snr_db,
                               grid=plan.grid)
    cut = int(round(float(meta["split"]) * sim.emg.shape[0]))
    start = cut - window
    events = sorted((int(s), u) for u, d in enumerate(sim.discharges) for s in d if s >= cut)
    sig = BandSignal(emg=np.ascontiguousarray(sim.emg[start:]), fs_hz=sim.fs_hz, layout=sim.layout,
                     channel_names=tuple(sim.channel_names),
                     events=tuple(TruthEvent((s - start) / sim.fs_hz, "spike", u) for s, u in events))
    return sig, start


def head_scores(bundle: Any, sig: Any) -> dict[str, Any]:
    """Per mapped head: one-to-one matches of its int8 spikes with its true unit's discharges in its report window."""
    import onnxruntime as ort

    from edgeemg.dsp import Pipeline

    m = bundle.manifest
    frames = Pipeline.from_description(m["dsp"], m["fs_hz"], m["n_channels"]).process_offline(sig.emg)
    sess = ort.InferenceSession(str(bundle.path / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    prob = np.concatenate([sess.run(None, {m["input"]["name"]: frames.data[i:i + 256]})[0]
                           for i in range(0, len(frames.data), 256)])
    dec = bundle.decoder()
    events = dec.step(prob, frames.end_index) + dec.finish()
    fs = float(m["fs_hz"])
    rows = []
    for row in m["truth_events"]["map"]:
        lo, hi = (int(round(v * fs / 1000.0)) for v in row["window_ms"])
        truth = np.array([round(e.time_s * fs) for e in sig.events if e.value == row["truth"]], dtype=np.int64)
        fired = np.array(sorted(e["end_index"] for e in events if row["reported"] in e["units"]), dtype=np.int64)
        used = np.zeros(len(fired), dtype=bool)
        tp = 0
        for t in truth:  # the earliest unused spike in [t + lo, t + hi]
            cand = np.flatnonzero(~used & (fired >= t + lo) & (fired <= t + hi))
            if len(cand):
                used[cand[0]] = True
                tp += 1
        rows.append({"head": row["reported"], "truth": row["truth"], "n_true": int(len(truth)),
                     "n_fired": int(len(fired)), "sensitivity": tp / max(1, len(truth)),
                     "precision": tp / max(1, len(fired))})
    return {"heads": rows, "sensitivity": float(np.mean([r["sensitivity"] for r in rows])),
            "precision": float(np.mean([r["precision"] for r in rows]))}


def time_heads(model_config: dict[str, Any], n_heads: int, x: np.ndarray, calls: int = 3000) -> dict[str, float]:
    """Per-window ms (p50 / p99, wall and thread CPU) of an ``n_heads`` MO-DCNN, int8 as the shipped recipe makes it."""
    import tempfile
    import time
    from pathlib import Path

    import torch

    from edgeemg.export import onnx_export
    from edgeemg.export.hooks import WindowCalibrationReader
    from edgeemg.export.recipe import load_recipe
    from edgeemg.tasks.motor_units.models import MODCNNConfig, build_model

    torch.manual_seed(0)
    net = build_model(MODCNNConfig.from_dict({**model_config, "n_units": n_heads})).eval()
    float_modules: tuple[str, ...] = ()
    if net.config.trunk_kernel > net.config.kernel_size:  # teacher-started: one float C1 filter per head, as exported
        from edgeemg.tasks.motor_units.c1_split import split_teacher_c1

        float_modules = (split_teacher_c1(net, list(range(n_heads))),)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fp32 = onnx_export.optimize_offline(onnx_export.export_float(net, x.shape[1:], work / "raw.onnx"),
                                            work / "fp32.onnx")
        reader = WindowCalibrationReader(x, 256, input_name=onnx_export.INPUT_NAME, seed=0)
        onnx_export.quantize_int8(fp32, work / "int8.onnx", reader, load_recipe("motor-units").quantize, work,
                                  float_modules=float_modules)
        sess = onnx_export.session(work / "int8.onnx", threads=1)
        wall, cpu = np.empty(calls), np.empty(calls)
        for i in range(calls + 200):
            item = x[i % len(x)][None]
            t0, c0 = time.perf_counter(), time.thread_time()
            sess.run(None, {onnx_export.INPUT_NAME: item})
            if i >= 200:
                wall[i - 200], cpu[i - 200] = time.perf_counter() - t0, time.thread_time() - c0
    return {f"{k}_{q}_ms": float(1000 * np.percentile(v, p)) for k, v in (("wall", wall), ("cpu", cpu))
            for q, p in (("p50", 50), ("p99", 99))}


def main(argv: list[str] | None = None) -> int:
    from edgeemg.runtime.bench import bench_bundle
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.tasks.checkpoint import load_checkpoint

    args = parse_args(argv)
    out: dict[str, Any] = {}
    first = None
    print("level  heads(mapped)  true->spike p50 / p99 ms  sens / prec (int8, mapped heads)  model per hop p50 / p99 "
          "ms  int8 per window ms")
    for path in args.bundles:
        bundle = load_bundle(path)
        meta = load_checkpoint(bundle.manifest["source_checkpoint"]["path"]).meta
        sig, start = held_out_band(meta, int(bundle.manifest["window"]))
        report, items = bench_bundle(bundle, seconds=sig.emg.shape[0] / sig.fs_hz, seed=int(meta.get("seed", 0)),
                                     signal=sig, reps=args.reps)
        first = first or (bundle.manifest["model_config"], items[:600])
        scores = head_scores(bundle, sig)
        r = report.to_dict()
        level = float(meta["simulation"]["level"])
        te, model = r["true_event"], r["stages"]["model"]
        out[f"{100 * level:g}"] = {"bundle": path, "report": r, "scores": scores, "first_sample": start}
        print(f"{100 * level:4.0f} %  {len(bundle.manifest['labels']):5d} ({len(scores['heads'])})  "
              f"{te['p50_ms']:10.1f} / {te['p99_ms']:5.1f}  {scores['sensitivity']:.3f} / {scores['precision']:.3f}  "
              f"{model['p50_ms']:.3f} / {model['p99_ms']:.3f}  {r['model_ms'].get('int8', float('nan')):.3f}",
              flush=True)
    if args.heads:
        t = time_heads(first[0], args.heads, first[1])
        out["heads"] = {"n": args.heads, **t}
        print(f"{args.heads} heads, int8 per window: wall {t['wall_p50_ms']:.3f} / {t['wall_p99_ms']:.3f} ms, thread "
              f"CPU {t['cpu_p50_ms']:.3f} / {t['cpu_p99_ms']:.3f} ms (p50 / p99)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
