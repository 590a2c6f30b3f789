"""Added latency of the BrainFlow and LSL sources against the serial path, on the same recording.

Not a pytest module (it streams in real time for ``--seconds`` per source). Run::

    .venv/bin/python benchmarks/report_sources.py --seconds 20 --rounds 4 --json sources_report.json

One recording, ``edgeemg.data.bands.synthetic_signal`` (2 kHz, 8 channels, seed 0),
goes through four paths into the same engine and bundle (a real ONNX model on a
high-pass + 100 ms window chain, tests/_tiny_bundle.py), in real time:

* ``serial``: :class:`~edgeemg.bridge.SimulatedBand` framing it onto a pty (4 ms
  frames), read by the serial band: the reference path;
* ``lsl``: an LSL outlet on this machine pushing 4 ms chunks stamped with each
  sample's time, read by ``lsl:NAME``;
* ``brainflow-playback``: a BrainFlow file (ANT Neuro EE-410 layout: 2 kHz, 8
  EXG rows) replayed by BrainFlow's playback board, read by ``brainflow:playback``;
* ``brainflow-synthetic`` (250 Hz, its own signal; a separate 250 Hz bundle):
  BrainFlow's synthetic board, for the polling cost at a low rate.

For every model item the engine records ``emit - arrival`` for the item's
newest sample. Here arrival is the sample's own time, when it existed at the
sender, so each figure runs from sample time to emitted event and includes the
transport, buffering and polling of its path: for the serial path the simulated
device's pacing clock (:meth:`~edgeemg.bridge.SimulatedBand.sample_time_s`,
put into each block in place of its read time), for LSL the sender's stamp of
each sample, for BrainFlow its own timestamp of the sample (when BrainFlow's
board thread produced it: for the playback board, when it replayed it). The
table's "added" columns subtract the serial path's figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _hop_ms(open_band, bundle, seconds: float | None = None) -> np.ndarray:
    """Stream the band ``open_band()`` returns through a fresh engine (built and warmed before the band opens);
    per model item, ms from the arrival of its newest sample to its emission."""
    from edgeemg.runtime.engine import Engine
    from edgeemg.runtime.streaming import Stream

    engine = Engine(bundle, skip_after_ms=float("inf"))
    with open_band() as band:
        list(Stream(band, engine=engine, idle_timeout_s=3.0, seconds=seconds))
    return np.array([1e3 * h.latency_s for h in engine.hops])


class _SampleTimed:
    """A simulated band whose blocks carry their newest sample's own time (the device's clock) as arrival,
    instead of the time the host read them, as LSL stamps and BrainFlow timestamps do."""

    def __init__(self, band) -> None:
        self.band, self.n = band, 0

    def __getattr__(self, name):
        return getattr(self.band, name)

    def __enter__(self):
        self.band.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.band.__exit__(*exc)

    def read(self, timeout=None):
        from dataclasses import replace

        from edgeemg.bridge import Block

        item = self.band.read(timeout)
        if isinstance(item, Block):
            self.n += len(item.samples)
            item = replace(item, host_time_s=self.band.sample_time_s(self.n - 1))
        return item


def _playback_csv(path: Path, x: np.ndarray, fs: float, board: str) -> None:
    from brainflow.board_shim import BoardIds, BoardShim

    d = BoardShim.get_board_descr(int(BoardIds[board]))
    rows = d.get("emg_channels") or d["eeg_channels"]
    table = np.zeros((d["num_rows"], len(x)))
    table[rows] = x.T
    table[d["package_num_channel"]] = np.arange(len(x)) % 256
    table[d["timestamp_channel"]] = np.arange(len(x)) / fs
    np.savetxt(path, table.T, fmt="%.6f", delimiter="\t")


class Sources:
    """The four paths, each a function of nothing returning one round's per-item latencies (ms)."""

    def __init__(self, seconds: float, tmp: Path) -> None:
        from _tiny_bundle import tiny_bundle

        from edgeemg.data.bands import synthetic_signal
        from edgeemg.runtime.engine import Engine

        self.seconds, self.tmp = seconds, tmp
        self.sig = synthetic_signal(seconds, seed=0)
        self.names = list(self.sig.channel_names)
        self.bundle = tiny_bundle(tmp / "b2k", self.sig.fs_hz, self.names, window=200, hop=200)
        self.board = "ANT_NEURO_EE_410_BOARD"
        _playback_csv(tmp / "rec.csv", self.sig.emg, self.sig.fs_hz, self.board)
        self.b250 = tiny_bundle(tmp / "b250", 250.0, [f"emg{i}" for i in range(8)], window=25, hop=25)
        Engine(self.bundle), Engine(self.b250)  # compile the numba kernels before any band streams

    def serial(self) -> np.ndarray:
        from edgeemg.bridge import SimulatedBand

        return _hop_ms(lambda: _SampleTimed(SimulatedBand("synthetic", seed=0, seconds=self.seconds, speed=1.0,
                                                          pty=True)), self.bundle)

    def lsl(self) -> np.ndarray:
        from edgeemg.bridge import open_band
        from edgeemg.bridge.lsl_publish import LslPlayer

        snd = LslPlayer(f"edgeemg-bench-{uuid.uuid4().hex[:6]}", self.sig.emg, self.sig.fs_hz, self.names, chunk=8)
        snd.start()  # it sends once the band's inlet subscribes
        return _hop_ms(lambda: open_band(f"lsl:{snd.stream_name}"), self.bundle)

    def brainflow_playback(self) -> np.ndarray:
        from edgeemg.bridge import open_band

        # the EE-410's 8 EXG rows carry the recording, in the bundle's order
        return _hop_ms(lambda: open_band(f"brainflow:playback:{self.tmp / 'rec.csv'}?master_board={self.board}"),
                       self.bundle)

    def brainflow_synthetic(self) -> np.ndarray:
        from edgeemg.bridge import open_band

        return _hop_ms(lambda: open_band("brainflow:synthetic?channels=0,1,2,3,4,5,6,7"), self.b250, self.seconds)


def _row(ms: np.ndarray) -> dict:
    return {"items": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "max_ms": round(float(ms.max()), 3)}


def run(seconds: float, rounds: int) -> dict:
    """``rounds`` rounds, each source ``seconds / rounds`` per round in turn, so load changes hit all alike."""
    src = Sources(seconds / rounds, Path(tempfile.mkdtemp(prefix="edgeemg-sources-")))
    paths = {"serial": src.serial, "lsl": src.lsl, "brainflow-playback": src.brainflow_playback,
             "brainflow-synthetic": src.brainflow_synthetic}
    got: dict[str, list[np.ndarray]] = {k: [] for k in paths}
    for _ in range(rounds):
        for key, fn in paths.items():
            got[key].append(fn())
    out: dict = {"recording": f"synthetic_signal, seed 0: {src.sig.fs_hz:g} Hz x {len(src.names)} ch, "
                              f"{rounds} rounds x {seconds / rounds:g} s per source",
                 **{k: _row(np.concatenate(v)) for k, v in got.items()}}
    out["brainflow-synthetic"]["note"] = "BrainFlow's own 250 Hz signal, 100 ms hop"
    ref = out["serial"]
    for key in ("lsl", "brainflow-playback", "brainflow-synthetic"):
        out[key]["added_p50_ms"] = round(out[key]["p50_ms"] - ref["p50_ms"], 3)
        out[key]["added_p99_ms"] = round(out[key]["p99_ms"] - ref["p99_ms"], 3)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="per source, real time (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default: %(default)s)")
    p.add_argument("--json", metavar="PATH", help="also write the report here")
    args = p.parse_args(argv)
    report = run(args.seconds, args.rounds)
    print(f"{'source':<20} {'items':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'added p50':>10} {'added p99':>10}",
          file=sys.stderr)
    for key, r in report.items():
        if isinstance(r, dict):
            print(f"{key:<20} {r['items']:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} "
                  f"{r.get('added_p50_ms', 0):>10.2f} {r.get('added_p99_ms', 0):>10.2f}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
