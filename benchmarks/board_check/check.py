"""`make board-check`: the board side of edgeemg on emulated arm64 CPUs, checked against this host.

For each CPU model (``cortex-a72`` = Raspberry Pi 4, ``cortex-a76`` = Pi 5, ``neoverse-n1``
standing in for a Jetson Orin's Cortex-A78AE, which qemu does not model) it runs, under
qemu-user 10 with a Debian bookworm arm64 Python 3.11 (``setup.sh``):

* the board install: the project's wheel and its core dependencies only (aarch64 wheels
  at this host's versions, installed into a folder by the host's pip; no extras: no
  torch, no numba), sized per package;
* the imports, and the board's DSP kernels (scipy's: no numba there) against the host's
  (numba's) values on the same data;
* per task bundle (``bundles.py``: gait, muscle, keystroke, motor units; ONNX int8, and
  TFLite int8 through ai-edge-litert for gait and muscle): ``edgeemg inspect --verify``
  (the bundle's golden self-check on the emulated CPU) and ``edgeemg run --simulate``
  with the host's seed, whose events must equal the host's: same count, times, labels,
  and float payloads within the bundle's declared int8 tolerance;
* once, on the first CPU: the cold and warm start to the first decoded event
  (``probe.py startup``), next to the same figures on this host with each DSP backend
  (numba, the host's default; scipy, the board's).

It prints one table and exits 1 on any mismatch. Slow (5-8 min per CPU model on a loaded
2-core host, plus the one-time set-up): not part of ``make test``; run it before a release
and after any change to export, runtime, dsp or the packaging.

    python benchmarks/board_check/check.py [--cpus cortex-a72 ...] [--tasks gait ...] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CPUS = ("cortex-a72", "cortex-a76", "neoverse-n1")
#: pip options that select aarch64 CPython 3.11 wheels (pip does not widen --platform by itself)
AARCH64 = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
           "--abi", "abi3", "--abi", "none", "--platform", "manylinux2014_aarch64", "--platform", "any",
           *[a for v in range(17, 37) for a in ("--platform", f"manylinux_2_{v}_aarch64")]]
#: event keys that are wall-clock measurements, not decoding results
TIMING_KEYS = ("arrival_s", "emit_s", "latency_ms")


def _sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+ " + " ".join(str(c) for c in cmd)[:300], file=sys.stderr, flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def _pip(*args: str) -> None:
    _sh(["nice", "-n", "10", sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args])


# ----------------------------------------------------------------------------------- board install
def board_install(work: Path) -> dict:
    """Build the wheel, fetch aarch64 wheels at this host's versions, install the board side; sizes.

    The project itself is always installed from the wheel just built (a copy that ``pip download``
    left among the dependency wheels would be an older build of the same version).
    """
    proj = work / "projwheel"
    shutil.rmtree(proj, ignore_errors=True)
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(proj), str(ROOT))
    project_wheel = next(proj.glob("edgeemg-*.whl"))
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True,
                            capture_output=True, text=True).stdout
    pins = "\n".join(line for line in freeze.splitlines() if "==" in line and not line.startswith("edgeemg"))
    wheels = work / "wheels"
    wheels.mkdir(exist_ok=True)
    (work / "constraints.txt").write_text(pins + "\n")
    wanted = ["edgeemg", "edgeemg[tflite]"]
    stamp = wheels / ".pins"
    if not stamp.is_file() or stamp.read_text() != pins:
        _pip("download", "-d", str(wheels), "--find-links", str(proj), "-c", str(work / "constraints.txt"),
             *AARCH64, *wanted)
        stamp.write_text(pins)
    for copy in wheels.glob("edgeemg-*.whl"):
        copy.unlink()
    site, litert = work / "board-site", work / "litert-site"
    for folder, what in ((site, str(project_wheel)), (litert, "ai-edge-litert")):
        shutil.rmtree(folder, ignore_errors=True)
        _pip("install", "--no-index", "--find-links", str(wheels), "--target", str(folder), *AARCH64, what)
    return {"site": str(site), "litert_site": str(litert), "sizes_mb": site_sizes(site)}


def site_sizes(site: Path) -> dict[str, float]:
    """MB per installed distribution (the files its RECORD lists), largest first, plus the total."""
    sizes = {}
    for record in site.glob("*.dist-info/RECORD"):
        total = 0
        for line in record.read_text().splitlines():
            f = site / line.split(",")[0]
            total += f.stat().st_size if f.is_file() else 0
        sizes[record.parent.name.split("-")[0]] = round(total / 1e6, 1)
    out = dict(sorted(sizes.items(), key=lambda kv: -kv[1]))
    out["total"] = round(sum(sizes.values()), 1)
    return out


# ----------------------------------------------------------------------------------- running both sides
class Emulator:
    """An arm64 python under qemu-user: ``run(cpu, args)``."""

    def __init__(self, work: Path, qemu_dir: Path, pythonpath: list[str]) -> None:
        self.qemu = qemu_dir / "qemu-aarch64"
        self.sysroot = work / "sysroot"
        self.work = work
        self.pythonpath = ":".join(pythonpath)

    def run(self, cpu: str, args: list[str], numba_cache: Path, timeout: float = 7200) -> dict:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "QEMU_LD_PREFIX": str(self.sysroot),
               "PYTHONPATH": self.pythonpath, "PYTHONNOUSERSITE": "1", "NUMBA_CACHE_DIR": str(numba_cache),
               "OMP_NUM_THREADS": "1", "HOME": str(self.work)}
        cmd = ["nice", "-n", "10", str(self.qemu), "-cpu", cpu, str(self.sysroot / "usr/bin/python3.11"), *args]
        return _json_run(cmd, env, timeout)


def _json_run(cmd: list, env: dict | None, timeout: float) -> dict:
    """Run a probe; its last stdout line is its JSON result (or an error with the stderr tail)."""
    cmd = [str(c) for c in cmd]
    t = time.time()
    print("+ " + " ".join(cmd)[:300], file=sys.stderr, flush=True)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    if p.returncode or not lines:
        return {"error": f"exit {p.returncode}: {p.stderr[-1500:]}", "wall_s": time.time() - t}
    return {**json.loads(lines[-1]), "wall_s": time.time() - t}


def host_python(args: list[str], numba_cache: Path, timeout: float = 3600, backend: str = "numba") -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(numba_cache), "OMP_NUM_THREADS": "1",
           "EDGEEMG_DSP_BACKEND": backend}
    return _json_run(["nice", "-n", "10", sys.executable, *args], env, timeout)


# ----------------------------------------------------------------------------------- comparing
def event_tolerance(bundle: Path) -> float:
    """The bundle's declared int8 tolerance: its golden self-check's, else its recipe's parity bound."""
    m = json.loads((bundle / "manifest.json").read_text())
    declared = (m.get("self_check") or {}).get("tolerance", {}).get("int8")
    return float(declared if declared is not None else m["recipe"]["tolerance"]["int8_rtol"])


def _events(path: Path) -> list[dict]:
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.startswith("{")] if path.is_file() else []
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows if r.get("type") == "event"]


def _diff(a, b) -> float:
    """Largest float difference between two decoded values; inf where anything else differs."""
    if isinstance(a, dict) and isinstance(b, dict):
        return max((_diff(a[k], b[k]) for k in a), default=0.0) if a.keys() == b.keys() else float("inf")
    if isinstance(a, list) and isinstance(b, list):
        return max((_diff(x, y) for x, y in zip(a, b)), default=0.0) if len(a) == len(b) else float("inf")
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else float("inf")
    return 0.0 if a == b else float("inf")


def _lost(path: Path) -> int:
    """Frames the run dropped or lost, and gaps, from its final metrics line (a slow emulator drops frames)."""
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.startswith("{")] if path.is_file() else []
    final = next((r for r in reversed(rows) if r.get("type") == "metrics" and r.get("final")), {})
    return sum(int(final.get(k, 0)) for k in ("dropped", "lost", "gaps"))


def compare_events(host: Path, board: Path, tol: float) -> dict:
    """Events equal: same count, every field equal, floats within ``tol``; and no frame dropped on either side."""
    ea, eb = _events(host), _events(board)
    d = _diff(ea, eb)
    lost = _lost(host) + _lost(board)
    return {"host": len(ea), "board": len(eb), "max_diff": d, "tol": tol, "lost": lost,
            "ok": len(ea) > 0 and d <= tol and lost == 0}


def _verify_cell(v: dict) -> tuple[str, bool]:
    """(table text, passed) for one `inspect --verify` result; a bundle with no golden vectors is n/a."""
    rep = (v.get("report") or {}).get("self_check")
    if rep is None:
        return ("n/a (no --verify)" if v.get("code") == 2 else f"error {v.get('code')}"), v.get("code") == 2
    results = rep.get("results", [])
    if not results:
        return "n/a (no golden)", True
    good = sum(bool(r.get("ok")) for r in results)
    return (f"ok {good}/{len(results)}" if rep.get("ok") else f"FAIL {good}/{len(results)}"), bool(rep.get("ok"))


# ----------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path(os.environ.get("ARM_WORK", Path(os.environ.get(
        "TMPDIR", "/tmp")) / "edgeemg-arm64")), help="set-up and results folder (default: $ARM_WORK)")
    p.add_argument("--qemu-dir", type=Path, default=None,
                   help="folder with qemu-aarch64 (default: $QEMU_DIR or WORK/qemu)")
    p.add_argument("--cpus", nargs="+", default=list(CPUS), help="qemu CPU models (default: %(default)s)")
    p.add_argument("--tasks", nargs="+", help="bundle names to check (default: all that bundles.py builds)")
    p.add_argument("--seconds", type=float, default=5.0, help="simulated seconds per run (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="simulated subject (default: %(default)s)")
    p.add_argument("--speed", type=float, default=0.25,
                   help="simulated band speed, x real time: slow enough that the emulated board drops no frame "
                        "(events do not depend on it; default: %(default)s)")
    p.add_argument("--no-startup", action="store_true", help="skip the cold/warm start measurement")
    p.add_argument("--json", type=Path, help="also write every figure as JSON here")
    a = p.parse_args(argv)
    work = a.work.resolve()
    qemu_dir = (a.qemu_dir or Path(os.environ.get("QEMU_DIR", work / "qemu"))).resolve()
    _sh(["bash", HERE / "setup.sh"], env={**os.environ, "ARM_WORK": str(work), "QEMU_DIR": str(qemu_dir)})
    t0 = time.time()
    install = board_install(work)
    host_dir, board_dir = work / "host", work / "board"
    host_dir.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bundles = json.loads(subprocess.run([sys.executable, HERE / "bundles.py", work / "bundles"], check=True, env=env,
                                        stdout=subprocess.PIPE, text=True).stdout.splitlines()[-1])
    bundles = {k: v for k, v in bundles.items() if not a.tasks or k in a.tasks or k.split("-tflite")[0] in a.tasks}
    tflite_target = work / "rpi4-tflite.toml"  # the Pi 4 profile with the tflite backend (a profile given by path)
    tflite_target.write_text((ROOT / "targets" / "rpi4.toml").read_text().replace(
        'backend = "onnxruntime"', 'backend = "tflite"').replace('name = "rpi4"', 'name = "rpi4-tflite"'))
    spec = {"seconds": a.seconds, "seed": a.seed, "speed": a.speed, "dsp_ref": str(host_dir / "dsp.npz"),
            "bundles": {k: {"path": v, "target": str(tflite_target) if k.endswith("-tflite") else None}
                        for k, v in bundles.items()}}
    (work / "spec.json").write_text(json.dumps(spec))
    host_python([HERE / "probe.py", "dsp", "save", host_dir / "dsp.npz"], work / "numba-host")
    host = host_python([HERE / "probe.py", "suite", work / "spec.json", host_dir], work / "numba-host")
    emu = Emulator(work, qemu_dir, [install["site"], install["litert_site"]])
    results = {"install": install, "host": host, "cpus": {}, "startup": {}}
    for cpu in a.cpus:
        results["cpus"][cpu] = emu.run(cpu, [str(HERE / "probe.py"), "suite", str(work / "spec.json"),
                                             str(board_dir / cpu)], work / f"numba-{cpu}")
    if not a.no_startup:
        results["startup"] = startup(emu, a.cpus[0], bundles.get("gait") or next(iter(bundles.values())), work)
    ok = report(results, bundles, host_dir, board_dir)
    print(f"\nboard check: {'PASS' if ok else 'FAIL'} in {(time.time() - t0) / 60:.1f} min", file=sys.stderr)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1, default=str))
    return 0 if ok else 1


def startup(emu: Emulator, cpu: str, bundle: str, work: Path) -> dict:
    """Cold (empty numba cache) then warm start to the first event: this host (numba, then scipy DSP), emulated."""
    out = {}
    for side in ("host", "host-scipy", cpu):
        cache = work / f"numba-startup-{side}"
        shutil.rmtree(cache, ignore_errors=True)
        for kind in ("cold", "warm"):
            args = [str(HERE / "probe.py"), "startup", bundle]
            if side == cpu:
                out[f"{side} {kind}"] = emu.run(cpu, args, cache)
            else:
                out[f"{side} {kind}"] = host_python(args, cache, backend="scipy" if side == "host-scipy" else "numba")
    return out


def report(results: dict, bundles: dict, host_dir: Path, board_dir: Path) -> bool:
    """Print the tables; True when every row passed."""
    sizes = results["install"]["sizes_mb"]
    print("board install (aarch64, `pip install edgeemg`, no extras), MB per distribution:")
    print("  " + ", ".join(f"{k} {v:g}" for k, v in sizes.items()))
    ok = "error" not in results["host"]
    print(f"\n{'cpu':<12} {'bundle':<20} {'events host/board':>17} {'max diff':>9} {'tol':>6} {'events':>7} "
          f"{'self-check':>18}")
    for cpu, r in results["cpus"].items():
        if "error" in r:
            print(f"{cpu:<12} ERROR {r['error'][-400:]}")
            ok = False
            continue
        dsp_ok = r["dsp"]["ok"] and not r["torch_importable"]
        ok &= dsp_ok
        worst = max(r["dsp"]["max_rel_diff"].values())
        print(f"{cpu:<12} {'dsp ' + r['dsp'].get('backend', '?') + ' vs host':<20} {'':>17} {worst:>9.1e} "
              f"{r['dsp']['rtol']:>6g} "
              f"{'equal' if dsp_ok else 'DIFFER':>7} {'imports ' + format(r['imports_s'], '.1f') + ' s':>18}")
        for name, b in r["bundles"].items():
            cmp = compare_events(host_dir / f"{name}.jsonl", board_dir / cpu / f"{name}.jsonl",
                                 event_tolerance(Path(bundles[name])))
            verify, verify_ok = _verify_cell(b["verify"])
            ok &= cmp["ok"] and verify_ok and b["run"]["code"] == 0
            verdict = "equal" if cmp["ok"] else (f"lost {cmp['lost']}" if cmp["lost"] else "DIFFER")
            print(f"{cpu:<12} {name:<20} {cmp['host']:>8}/{cmp['board']:<8} {cmp['max_diff']:>9.1e} {cmp['tol']:>6g} "
                  f"{verdict:>7} {verify:>18}")
    if results["startup"]:
        steps = ("interpreter", "imports", "bundle_load", "model_load", "dsp_warmup", "first_event")
        print("\nstart to the first decoded event (gait bundle unless filtered out): CPU seconds per step "
              "(a loaded host inflates wall time, not CPU time; emulated = qemu's CPU time)")
        print(f"  {'run':<18} " + " ".join(f"{k:>11}" for k in steps) + f" {'total cpu':>10} {'total wall':>10}"
              + "  dsp (numba compiled/cache hits)")
        for run, st in results["startup"].items():
            if "error" in st:
                print(f"  {run:<18} ERROR {st['error'][-300:]}")
                ok = False
                continue
            print(f"  {run:<18} " + " ".join(f"{st['cpu_s'][k]:>11.2f}" for k in steps)
                  + f" {st['total_cpu_s']:>10.2f} {st['total_wall_s']:>10.2f}"
                  + f"  {st.get('dsp_backend', '?')} ({st['numba_compiled']}/{st['numba_cache_hits']})")
    return ok


if __name__ == "__main__":
    sys.exit(main())
