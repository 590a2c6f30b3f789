"""Run MUniverse's CBSS pipeline (``muniverse-emg``) on one recording; run with the peer's own Python.

Usage: ``PEER_PYTHON _peer_cbss.py IN.npz OUT.npz``. ``IN.npz`` holds ``emg``
(n_samples, n_channels) and ``fs_hz``; ``OUT.npz`` gets ``unit_<k>`` sample
arrays and ``wall_s``. The pipeline runs with its packaged default
configuration (band-pass 20-500 Hz, notch, extension 12, 100 random-start
FastICA runs with CKC-style refinement, duplicate removal, SIL > 0.9), only
its console chatter turned off. Kept apart from edgeemg: the peer is a
benchmark dependency in its own environment, never imported by edgeemg.
"""

import json
import sys
import time
from importlib.resources import files

import numpy as np
from muniverse.algorithms.decomposition import decompose_cbss


def main(src: str, dst: str) -> None:
    data = np.load(src)
    cfg = json.loads(files("muniverse").joinpath("configs/cbss.json").read_text())
    cfg["algorithmConfig"]["verbose"] = False
    t0 = time.perf_counter()
    results, _ = decompose_cbss(np.ascontiguousarray(data["emg"].T, dtype=np.float64), float(data["fs_hz"]), cfg)
    wall = time.perf_counter() - t0
    spikes = results["spikes"]
    out = {"wall_s": np.float64(wall)}
    if spikes is not None and len(spikes):
        for k, (_, grp) in enumerate(spikes.groupby("unit_id")):
            out[f"unit_{k}"] = np.sort(grp["sample"].to_numpy(dtype=np.int64))
    np.savez(dst, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
