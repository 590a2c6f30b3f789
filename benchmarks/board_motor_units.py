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
* model compute per hop (median / p99), and the int8 model per window.
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


def main(argv: list[str] | None = None) -> int:
    from edgeemg.runtime.bench import bench_bundle
    from edgeemg.runtime.bundle import load_bundle
    from edgeemg.tasks.checkpoint import load_checkpoint

    args = parse_args(argv)
    out = {}
    print("level  heads(mapped)  true->spike p50 / p99 ms  sens / prec (int8, mapped heads)  model per hop p50 / p99 "
          "ms  int8 per window ms")
    for path in args.bundles:
        bundle = load_bundle(path)
        meta = load_checkpoint(bundle.manifest["source_checkpoint"]["path"]).meta
        sig, start = held_out_band(meta, int(bundle.manifest["window"]))
        report, _ = bench_bundle(bundle, seconds=sig.emg.shape[0] / sig.fs_hz, seed=int(meta.get("seed", 0)),
                                 signal=sig, reps=args.reps)
        scores = head_scores(bundle, sig)
        r = report.to_dict()
        level = float(meta["simulation"]["level"])
        te, model = r["true_event"], r["stages"]["model"]
        out[f"{100 * level:g}"] = {"bundle": path, "report": r, "scores": scores, "first_sample": start}
        print(f"{100 * level:4.0f} %  {len(bundle.manifest['labels']):5d} ({len(scores['heads'])})  "
              f"{te['p50_ms']:10.1f} / {te['p99_ms']:5.1f}  {scores['sensitivity']:.3f} / {scores['precision']:.3f}  "
              f"{model['p50_ms']:.3f} / {model['p99_ms']:.3f}  {r['model_ms'].get('int8', float('nan')):.3f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
