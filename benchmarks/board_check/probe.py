"""What `make board-check` runs on both sides: the host's Python and the emulated arm64 one.

Only the board install is importable on the arm64 side (no torch, no extras but ai-edge-litert
for .tflite bundles), so this file imports nothing else. Every mode prints one JSON object.

    probe.py dsp save|compare REF.npz      DSP kernels on fixed data, saved (host) or compared (board); the
                                            backend is each side's default (numba on the host, scipy on a board)
    probe.py suite SPEC.json OUT_DIR        per bundle: `edgeemg inspect --verify` and `edgeemg run --simulate`
                                            (events to OUT_DIR/<name>.jsonl), in one process (imports once)
    probe.py startup BUNDLE [SEED]          steps to the first decoded event: imports, bundle, model load,
                                            DSP warm-up (numba compile or cache hit where numba runs), first event
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path

T_START = time.perf_counter()
T_CPU = time.process_time()  # the interpreter's own start-up, before this module ran
#: relative error allowed between the board's kernels and the host's (float32 outputs of float64 arithmetic)
DSP_RTOL = 1e-4


def _dsp_outputs() -> dict:
    """Filters, streaming chunks, features and normaliser on a fixed random signal."""
    import numpy as np

    from edgeemg.dsp import RunningZScore, StreamingSOS, bandpass_sos, notch_sos, sosfilt_tc, td_features

    x = (np.random.default_rng(0).standard_normal((4000, 6)) * 50).astype(np.float32)
    sos = bandpass_sos(20, 450, fs_hz=2000)
    y_off, _ = sosfilt_tc(sos, x)
    f = StreamingSOS(np.vstack([sos, notch_sos(50, fs_hz=2000)]), n_channels=6)
    y_str = np.concatenate([f.process(x[i:i + 37]) for i in range(0, len(x), 37)])
    win = np.lib.stride_tricks.sliding_window_view(y_off, 200, axis=0)[::100].transpose(0, 2, 1).copy()
    z = np.asarray(RunningZScore(2.0, 2000.0, 6).process(y_off))
    return {"bandpass": y_off, "bandpass_notch_chunked": y_str, "td_features": td_features(win), "zscore": z}


def dsp(mode: str, ref: str) -> dict:
    import numpy as np

    from edgeemg.dsp._backend import backend_name

    out = _dsp_outputs()
    if mode == "save":
        np.savez(ref, **out)
        return {"saved": ref, "arrays": sorted(out), "backend": backend_name()}
    host = np.load(ref)
    diffs = {k: float(np.abs(v.astype(np.float64) - host[k]).max() / max(1e-12, float(np.abs(host[k]).max())))
             if v.shape == host[k].shape else float("inf") for k, v in out.items()}
    return {"max_rel_diff": diffs, "rtol": DSP_RTOL, "ok": all(d <= DSP_RTOL for d in diffs.values()),
            "backend": backend_name()}


def _cli(argv: list[str], stdout_path: Path | None = None) -> tuple[int, str, str]:
    """``edgeemg ARGV`` in this process: exit code, stdout (or written to ``stdout_path``), stderr tail."""
    from edgeemg.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors (e.g. an option this version lacks)
            code = int(exc.code or 0)
    if stdout_path is not None:
        stdout_path.write_text(out.getvalue())
    return code, out.getvalue(), err.getvalue()[-2000:]


def suite(spec_path: str, out_dir: str) -> dict:
    """SPEC: {"seconds": S, "seed": N, "bundles": {name: {"path": P, "target": T|null}}}."""
    spec = json.loads(Path(spec_path).read_text())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    import edgeemg.bridge  # noqa: F401  the board side, timed once
    import edgeemg.runtime.daemon  # noqa: F401

    report: dict = {"imports_s": time.perf_counter() - t0, "torch_importable": _importable("torch"), "bundles": {}}
    report["dsp"] = dsp("compare", spec["dsp_ref"])
    for name, b in spec["bundles"].items():
        t = time.perf_counter()
        code, text, err = _cli(["inspect", b["path"], "--verify", "--json"])
        verify = {"code": code, "report": _json_or_none(text), "stderr": err}
        run_argv = ["-q", "run", b["path"], "--simulate", "--seconds", str(spec["seconds"]),
                    "--seed", str(spec["seed"]), "--speed", str(spec.get("speed", 1.0)), "--skip-after-ms", "1e9"]
        run_argv += ["--target", b["target"]] if b.get("target") else []
        code, _, err = _cli(run_argv, out / f"{name}.jsonl")
        report["bundles"][name] = {"verify": verify, "run": {"code": code, "stderr": err},
                                   "seconds": time.perf_counter() - t}
    return report


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _json_or_none(text: str) -> dict | None:
    try:
        return json.loads(text)
    except ValueError:
        return None


class _Steps:
    """Wall and CPU seconds of named steps (CPU time is what a loaded host cannot inflate)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):  # noqa: ANN204
        t, c = time.perf_counter(), time.process_time()
        yield
        self.wall[name], self.cpu[name] = time.perf_counter() - t, time.process_time() - c


def startup(bundle_path: str, seed: int = 0) -> dict:
    """Seconds of each step from process start to the first decoded event (compute only, see below).

    The band's own time (waiting for a window of samples) is not counted: the signal is
    simulated as fast as possible and only ``Engine.feed`` calls are timed, so the figure
    is what the board computes before it can answer. Where the DSP backend is numba, its
    cache statistics say whether the kernels were compiled (cold) or loaded from
    ``NUMBA_CACHE_DIR`` (warm); the scipy backend (a board without numba) has nothing to compile.
    """
    step = _Steps()
    step.wall["interpreter"], step.cpu["interpreter"] = T_START - _process_start(), T_CPU
    with step("imports"):
        import onnxruntime  # noqa: F401

        from edgeemg.bridge import SimulatedBand
        from edgeemg.dsp._backend import backend_name, kernels
        from edgeemg.runtime.backends import open_backend
        from edgeemg.runtime.bundle import load_bundle
        from edgeemg.runtime.engine import Engine
    with step("bundle_load"):
        bundle = load_bundle(bundle_path)
    with step("model_load"):
        backend = open_backend(bundle, backend="onnxruntime", precision="int8", providers=("CPUExecutionProvider",),
                               threads=1)
    with step("dsp_warmup"):  # the engine's warm-up runs every DSP kernel, the model and the decoder once
        engine = Engine(bundle, backend=backend, skip_after_ms=1e9)
    stats = [k.stats for k in getattr(kernels(), "ALL_KERNELS", ())]  # numba dispatchers only
    first = None
    with SimulatedBand(bundle.task, seed=seed, seconds=30.0, speed=float("inf")) as band:
        engine.check_band(band.info)
        step.wall["first_event"] = step.cpu["first_event"] = 0.0
        for item in band:
            with step("feed"):
                events = engine.feed(item)
            step.wall["first_event"] += step.wall.pop("feed")
            step.cpu["first_event"] += step.cpu.pop("feed")
            if events:
                first = events[0].to_dict()
                break
    return {"wall_s": step.wall, "cpu_s": step.cpu,
            "total_wall_s": sum(step.wall.values()), "total_cpu_s": sum(step.cpu.values()),
            "numba_compiled": sum(sum(s.cache_misses.values()) for s in stats),
            "numba_cache_hits": sum(sum(s.cache_hits.values()) for s in stats), "dsp_backend": backend_name(),
            "first_event": None if first is None else {k: first[k] for k in ("task", "sample_index")}}


def _process_start() -> float:
    """perf_counter() value when this process started (Linux /proc), to count the interpreter's own start."""
    try:
        import os

        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        age = uptime - ticks / os.sysconf("SC_CLK_TCK")
        return time.perf_counter() - age
    except (OSError, ValueError, IndexError):
        return T_START


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "dsp":
        result = dsp(*args)
    elif mode == "suite":
        result = suite(*args)
    elif mode == "startup":
        result = startup(args[0], int(args[1]) if len(args) > 1 else 0)
    else:
        raise SystemExit(f"probe.py: unknown mode '{mode}'; use dsp, suite or startup")
    print(json.dumps(result))
