"""Our teacher beside a peer decomposer (MUniverse's CBSS) on the same simulated recordings, one matcher.

Not a pytest module: it decomposes, so it takes minutes. Run::

    .venv/bin/python benchmarks/compare_decomposers.py --json compare.json

For each grid (``edgeemg simulate motor-units --grid``: 13x5 at 8 mm, 8x8 at
4 mm, 8x4 at 10 mm) and excitation level, one simulated contraction (20 dB SNR,
seed 0) is decomposed whole by our teacher (:func:`edgeemg.decompose.decompose`,
default settings) and by the peer, MUniverse's FastICA CBSS pipeline with its
packaged defaults (``muniverse-emg`` on PyPI, Mamidanna et al., NeurIPS 2025
datasets track). The peer is a benchmark dependency, not one of edgeemg's: it
runs in its own environment (``--peer-python``, default ``/work/venv-peer``,
made with ``python3.11 -m venv`` and ``pip install torch==2.13.0
muniverse-emg``) through ``benchmarks/_peer_cbss.py``; without it the peer's
columns say so. ``--peer-rows OLD.json`` reuses the peer's rows of an earlier
run on the same recordings (the peer takes 1-25 min a cell on 2 shared cores).

Both are scored against the simulator's truth by the same matcher
(:func:`edgeemg.tasks.motor_units.metrics.score_decoding`): units matched
one-to-one (Hungarian on F1), each pair's constant lag removed, spikes matched
within +-0.5 ms (1 sample at 2048 Hz); a unit is found when F1 > 0.7 (seed 004
after Clarke et al.); sensitivity, precision and rate of agreement are means
over found units; ``present`` counts the units that fire.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
GRIDS = ("13x5-8mm", "8x8-4mm", "8x4-10mm")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", type=float, nargs="+", default=[0.1, 0.3, 0.5], help="default: %(default)s")
    p.add_argument("--grids", nargs="+", default=list(GRIDS), choices=GRIDS, help="default: all")
    p.add_argument("--seconds", type=float, default=30.0, help="default: %(default)s")
    p.add_argument("--snr-db", type=float, default=20.0, help="default: %(default)s")
    p.add_argument("--seed", type=int, default=0, help="simulated subject (default: %(default)s)")
    p.add_argument("--peer-python", default=os.environ.get("EDGEEMG_PEER_PYTHON", "/work/venv-peer/bin/python"),
                   help="Python of the environment holding muniverse-emg (default: %(default)s)")
    p.add_argument("--no-peer", action="store_true", help="only our teacher")
    p.add_argument("--peer-rows", metavar="PATH",
                   help="take the peer's rows from an earlier --json of the same recordings (seconds, SNR, "
                        "subject) instead of running it again (it takes minutes to half an hour a cell)")
    p.add_argument("--json", metavar="PATH", help="also write every figure (per unit too) as JSON")
    return p.parse_args(argv)


def score(found: list[np.ndarray], sim: Any) -> dict[str, Any]:
    """The one matcher both decomposers are scored by (see the module docstring)."""
    from edgeemg.tasks.motor_units.metrics import score_decoding

    fs = sim.fs_hz
    return score_decoding(found, list(sim.discharges), n_samples=sim.emg.shape[0], fs_hz=fs,
                          tolerance=max(1, int(round(0.0005 * fs))), max_lag=int(round(0.05 * fs)),
                          reference_ids=list(range(sim.n_units)))


def run_teacher(sim: Any) -> tuple[list[np.ndarray], float, int]:
    """Our trains, wall time and how many units the residual pass added."""
    from edgeemg.decompose import decompose

    t0 = time.perf_counter()
    dec = decompose(sim.emg, sim.fs_hz)
    return list(dec.discharges), time.perf_counter() - t0, int(np.count_nonzero(dec.stage))


def run_peer(sim: Any, python: str) -> tuple[list[np.ndarray], float] | str:
    """The peer's trains and wall time, or why it did not run."""
    if not Path(python).exists():
        return f"no peer environment at {python}"
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, emg=sim.emg, fs_hz=sim.fs_hz)
        proc = subprocess.run([python, str(HERE / "_peer_cbss.py"), str(src), str(dst)], capture_output=True,
                              text=True)
        if proc.returncode != 0 or not dst.exists():
            return f"peer failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:] or ''}"
        out = np.load(dst)
        trains = [out[k] for k in sorted((k for k in out.files if k.startswith("unit_")), key=lambda k: int(k[5:]))]
        return trains, float(out["wall_s"])


def stored_peer_row(path: str, where: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The peer's row for this grid, level and length from an earlier run's JSON (an error row when absent)."""
    for r in json.loads(Path(path).read_text()):
        if (r["decomposer"] == "muniverse-cbss" and r["grid"] == where["grid"] and r["level"] == where["level"]
                and r["seconds"] == where["seconds"] and r.get("seed", 0) == args.seed
                and r.get("snr_db", 20.0) == args.snr_db):
            return {**r, "stored": path}
    return {**where, "decomposer": "muniverse-cbss", "error": f"no peer row for this cell in {path}"}


def row(name: str, rep: dict[str, Any], wall_s: float) -> dict[str, Any]:
    return {"decomposer": name, "found": rep["units_identified"], "present": rep["units_present"],
            "decoded": rep["n_decoded_units"], "sensitivity": rep["sensitivity"], "precision": rep["precision"],
            "rate_of_agreement": rep["rate_of_agreement"], "wall_s": wall_s, "per_unit": rep["per_unit"]}


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'grid':<10} {'level':>5}  {'decomposer':<14} {'found/present':>13} {'decoded':>7} {'sens':>6} "
            f"{'prec':>6} {'RoA':>6} {'wall s':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['grid']:<10} {r['level']:>5.2f}  {r['decomposer']:<14} {r['error']}")
            continue
        lines.append(f"{r['grid']:<10} {r['level']:>5.2f}  {r['decomposer']:<14} {r['found']:>6}/{r['present']:<6} "
                     f"{r['decoded']:>7} {r['sensitivity']:>6.3f} {r['precision']:>6.3f} "
                     f"{r['rate_of_agreement']:>6.3f} {r['wall_s']:>7.1f}")
    return "\n".join(lines)


def on_common_units(rows: list[dict[str, Any]]) -> str:
    """Per cell, each decomposer's mean sens / prec / RoA over the true units both identified.

    The means of the main table are over different sets of units (the one that
    finds more also keeps harder ones); this compares like with like.
    """
    head = f"{'grid':<10} {'level':>5}  {'common':>6}  {'ours sens/prec/RoA':>20}  {'peer sens/prec/RoA':>20}"
    lines = [head, "-" * len(head)]
    cells: dict[tuple[str, float], dict[str, dict[Any, dict[str, Any]]]] = {}
    for r in rows:
        if "per_unit" in r:
            cells.setdefault((r["grid"], r["level"]), {})[r["decomposer"]] = {
                u["reference_unit"]: u for u in r["per_unit"] if u.get("identified")}
    for (grid, level), by in cells.items():
        if len(by) < 2:
            continue
        ours, peer = by["edgeemg"], by["muniverse-cbss"]
        common = sorted(set(ours) & set(peer))
        if not common:
            continue

        def means(units: dict[Any, dict[str, Any]]) -> str:
            return "/".join(f"{np.mean([units[k][m] for k in common]):.3f}"
                            for m in ("sensitivity", "precision", "rate_of_agreement"))

        lines.append(f"{grid:<10} {level:>5.2f}  {len(common):>6}  {means(ours):>20}  {means(peer):>20}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from edgeemg.data.sim_motor_units import simulate_motor_units

    args = parse_args(argv)
    rows: list[dict[str, Any]] = []
    for level in args.levels:
        for grid in args.grids:
            sim = simulate_motor_units(args.seconds, seed=args.seed, level=level, snr_db=args.snr_db, grid=grid)
            where = {"grid": grid, "level": level, "seconds": args.seconds, "seed": args.seed, "snr_db": args.snr_db}
            trains, wall, from_residual = run_teacher(sim)
            rows.append({**where, **row("edgeemg", score(trains, sim), wall), "from_residual": from_residual})
            print(format_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
            if args.no_peer:
                continue
            peer = None if args.peer_rows else run_peer(sim, args.peer_python)
            if peer is None:
                rows.append(stored_peer_row(args.peer_rows, where, args))
            elif isinstance(peer, str):
                rows.append({**where, "decomposer": "muniverse-cbss", "error": peer})
            else:
                rows.append({**where, **row("muniverse-cbss", score(peer[0], sim), peer[1])})
            print(format_table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(f"simulated {args.seconds:g} s at {args.snr_db:g} dB, subject {args.seed}; spikes matched at +-0.5 ms, "
          "a unit found when F1 > 0.7; sens / prec / RoA are means over found units"
          + (f"; the peer's rows are stored ones ({args.peer_rows})" if args.peer_rows else ""))
    print(format_table(rows))
    if not args.no_peer:
        print("\non the true units both decomposers identified:")
        print(on_common_units(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
