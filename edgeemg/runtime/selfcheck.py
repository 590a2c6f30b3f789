"""The golden self-check: run a bundle's golden vectors on this device's own kernels before decoding (no torch).

Why: onnxruntime's and LiteRT's int8 kernels differ by CPU. On x86-64 with AVX2
or AVX-512 but no VNNI, onnxruntime's u8 x s8 GEMM adds pairs of products into
int16 with saturation (``vpmaddubsw``); AVX-512 VNNI (``vpdpbusd``) is exact;
arm64 has kernels of its own with and without the dot-product extension. A
bundle the export verified on its host can therefore decode differently on a
board, and nothing else on the board would notice.

So the exporter stores ``golden.npz`` in every bundle (hashed like every file):
a few calibration inputs, with the state the float model carried into them
where the model has state, the float reference outputs (PyTorch's) and what
each model computed for them on the export host; the manifest's ``self_check``
record holds the tolerances and the output scale the export judged parity on.
:func:`check_backend` runs the inputs through the very backend object the engine
will decode with and judges two figures, each per item as the largest absolute
output difference divided by the largest |output| PyTorch produced on the
held-out data, taken over the items (a handful has no meaningful percentile):

``error``
    vs PyTorch, against the recipe's ``int8_rtol`` (what the export promised);
``drift``
    vs the export host's own outputs, against ``int8_drift_rtol``: whether this
    CPU decodes as the one the bundle was verified on. A portable scheme drifts
    by exactly 0 (measured on AVX-512 VNNI, AVX2, Cortex-A72 and A76); the
    saturating one drifted from one output step (~0.008 of scale) to 0.26 on
    AVX2 while its error vs PyTorch stayed under ``int8_rtol``, which is why
    ``error`` alone is not enough.

``golden.npz`` keys: ``x`` (n, *item) float32; ``state.<input name>`` (n,
*state shape) for each state tensor; ``ref.<output name>`` (n, *output item);
``host.<artifact>.<output name>`` (the export host's outputs, e.g.
``host.onnx-int8.logits``).
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeemg.errors import BundleError

log = logging.getLogger(__name__)

GOLDEN_FILE = "golden.npz"

#: CPU features that decide which int8 kernels onnxruntime (MLAS) and LiteRT (XNNPACK/ruy) dispatch to.
INT8_FEATURES = ("AVX2", "AVX512F", "AVX512BW", "AVX512VNNI", "AVXVNNI", "AMX_INT8",
                 "ASIMD", "ASIMDDP", "I8MM", "SVE")


def cpu_features() -> list[str]:
    """The int8-relevant features this process's CPU reports, lower case (``avx2``, ``avx512vnni``, ``asimddp``).

    Read from numpy's runtime dispatch table (CPUID on x86, HWCAP on arm64):
    that is what the kernels dispatch on. ``/proc/cpuinfo`` describes the host
    kernel's CPU, which under an emulator (``qemu-x86_64 -cpu Haswell``) is not
    the CPU executing the code; it is only the fallback.
    """
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # numpy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as feats
        except ImportError:
            feats = None
    if feats is not None:
        return [f.lower() for f in INT8_FEATURES if feats.get(f)]
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.split(":")[0].strip() in ("flags", "Features"):
            flags |= set(line.split(":", 1)[1].split())
    return [f.lower() for f in INT8_FEATURES if f.lower() in flags or f.lower().replace("512", "512_") in flags]


def kernel_family(features: list[str] | None = None) -> str:
    """A short name of the int8 kernel family these features select (what a report groups results by)."""
    f = set(cpu_features() if features is None else features)
    machine = platform.machine()
    if "asimd" in f or (machine in ("aarch64", "arm64") and not f & {"avx2", "avx512f"}):
        return "arm64 " + ("with dot product" if "asimddp" in f else "without dot product")
    if "avx512vnni" in f or "avxvnni" in f:
        return "x86-64 VNNI"
    if "avx512bw" in f:
        return "x86-64 AVX-512 without VNNI"
    return "x86-64 AVX2" if "avx2" in f else f"{machine} (no AVX2)"


def runtime_versions() -> dict[str, str]:
    """Versions of the packages whose kernels run the model (those installed)."""
    from importlib import metadata

    out = {"numpy": np.__version__, "python": platform.python_version()}
    for dist in ("onnxruntime", "ai-edge-litert", "tflite-runtime"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def host_record() -> dict[str, Any]:
    """Where a check ran (the manifest's ``export_host``, a report's ``device``): CPU, features, runtimes."""
    model = ""
    try:
        model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith(("model name", "Model"))), "")
    except OSError:
        pass
    feats = cpu_features()
    return {"machine": platform.machine(), "cpu": model, "cpu_features": feats, "kernel_family": kernel_family(feats),
            "runtimes": runtime_versions()}


@dataclass(frozen=True)
class SelfCheck:
    """The result of one artifact's golden self-check on this device.

    ``error`` and ``tolerance`` are relative to the export's output scale (see the module docstring).
    """

    bundle: str
    artifact: str  # "onnx-int8" ...
    file: str
    backend: str
    providers: tuple[str, ...]
    n_items: int
    error: float
    tolerance: float
    drift: float | None  # None: the bundle holds no export-host outputs for this model (nothing to compare)
    drift_tolerance: float
    max_abs: float
    ms: float  # wall time of the golden run on this device
    cpu_features: tuple[str, ...]
    kernel_family: str
    runtime: str  # "onnxruntime 1.22.0" / "ai-edge-litert 1.4.0"

    @property
    def ok(self) -> bool:
        return self.error <= self.tolerance and (self.drift is None or self.drift <= self.drift_tolerance)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "providers": list(self.providers), "cpu_features": list(self.cpu_features),
                "ok": self.ok}

    def message(self) -> str:
        """One line: refusal or pass, with file, metric, measured vs allowed, CPU, runtime, and what to do."""
        err_ok = self.error <= self.tolerance
        drift = "" if self.drift is None else (
            f"; drift from the export host's outputs {self.drift:.3g} "
            f"{'<=' if self.drift <= self.drift_tolerance else '>'} allowed {self.drift_tolerance:g}")
        head = (f"{Path(self.bundle) / self.file}: golden self-check {'passed' if self.ok else 'FAILED'}: "
                f"max_rel output error vs PyTorch {self.error:.3g} {'<=' if err_ok else '>'} tolerance "
                f"{self.tolerance:g}{drift} over {self.n_items} golden items (max abs error {self.max_abs:.3g}) on "
                f"{self.kernel_family} [{' '.join(self.cpu_features) or 'no int8 SIMD features'}], {self.runtime}, "
                f"{self.ms:.1f} ms")
        if self.ok:
            return head
        fix = ("re-export the bundle with a portable int8 scheme (export/<task>.toml [quantize]: activation_type "
               "\"uint8\", weight_type \"int8\", reduce_range = true) or run its fp32 model with --precision fp32"
               if self.artifact.endswith("int8") else "re-export the bundle with this runtime version")
        return f"{head}; this device's kernels decode the bundle differently from the export host; {fix}"


def _runtime_label(backend: Any) -> str:
    versions = runtime_versions()
    if getattr(backend, "name", "") == "onnxruntime":
        return f"onnxruntime {versions.get('onnxruntime', '?')}"
    pkg = getattr(backend, "package", "ai-edge-litert")
    return f"{pkg} {versions.get(pkg, '?')}"


def load_golden(bundle: Any) -> dict[str, np.ndarray] | None:
    """The bundle's golden arrays, or None when it has none (exported before the self-check existed)."""
    path = Path(bundle.path) / GOLDEN_FILE
    if not path.is_file() or "self_check" not in bundle.manifest:
        return None
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def run_golden(bundle: Any, backend: Any, golden: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The backend's outputs for every golden item: one batch call, or item by item with its state."""
    m = bundle.manifest
    x = golden["x"].astype(np.float32)
    outputs = [o["name"] for o in m["outputs"]]
    if not m["state"]:
        out = backend.run({m["input"]["name"]: x})
        return {name: out[name] for name in outputs}
    rows: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    for i in range(len(x)):
        feeds = {m["input"]["name"]: x[i : i + 1],
                 **{s["input"]: golden[f"state.{s['input']}"][i].astype(np.float32) for s in m["state"]}}
        out = backend.run(feeds)
        for name in outputs:
            rows[name].append(out[name][0])
    return {name: np.stack(r) for name, r in rows.items()}


def check_backend(bundle: Any, backend: Any, precision: str) -> SelfCheck | None:
    """Run the golden vectors on ``backend`` (an opened model of ``bundle``); None when the bundle has none.

    Does not raise on a failed check: :func:`require` does. Costs one model
    call per golden item for a stateful model, one batch call otherwise.
    """
    golden = load_golden(bundle)
    if golden is None:
        return None
    names = [o["name"] for o in bundle.manifest["outputs"]]
    if not any(f"ref.{n}" in golden for n in names) or "x" not in golden:
        raise BundleError(f"{Path(bundle.path) / GOLDEN_FILE}: holds {sorted(golden)}, expected 'x' and a reference "
                          f"'ref.<output>' for one of the outputs {names}; re-export the bundle")
    rec = bundle.manifest["self_check"]
    t0 = time.perf_counter()
    got = run_golden(bundle, backend, golden)
    ms = 1000.0 * (time.perf_counter() - t0)
    scale = float(rec["scale"]) or 1.0
    fmt = "onnx" if getattr(backend, "name", "") == "onnxruntime" else "tflite"
    artifact = f"{fmt}-{precision}"
    max_abs = _largest_item_diff(got, golden, "ref.")
    drift = _largest_item_diff(got, golden, f"host.{artifact}.") if any(
        k.startswith(f"host.{artifact}.") for k in golden) else None
    feats = cpu_features()
    return SelfCheck(bundle=str(bundle.path), artifact=artifact, file=Path(backend.path).name, backend=backend.name,
                     providers=tuple(getattr(backend, "providers", ())), n_items=len(golden["x"]),
                     error=max_abs / scale, tolerance=float(rec["tolerance"][precision]),
                     drift=None if drift is None else drift / scale,
                     drift_tolerance=float(rec.get("drift_tolerance", rec["tolerance"])[precision]),
                     max_abs=max_abs, ms=ms, cpu_features=tuple(feats), kernel_family=kernel_family(feats),
                     runtime=_runtime_label(backend))


def _largest_item_diff(got: dict[str, np.ndarray], golden: dict[str, np.ndarray], prefix: str) -> float:
    """Largest absolute difference between ``got`` and the golden arrays ``prefix<output>`` (over items and outputs)."""
    return max((float(np.abs(y.astype(np.float64) - golden[prefix + name].astype(np.float64)).max())
                for name, y in got.items() if prefix + name in golden), default=0.0)


def _warn_unchecked(bundle: Any, precision: str) -> None:
    log.warning("bundle %s has no %s (exported before the golden self-check): its %s model is not checked on this "
                "CPU; re-export it to get the check", bundle.path, GOLDEN_FILE, precision)


def require(bundle: Any, backend: Any, precision: str) -> SelfCheck | None:
    """:func:`check_backend`, raising :class:`BundleError` (the one-line refusal) when the check fails.

    A bundle without golden vectors is let through with a warning: it was
    exported before the self-check existed, and refusing it would strand boards
    that have nothing to re-export it with.
    """
    result = check_backend(bundle, backend, precision)
    if result is None:
        _warn_unchecked(bundle, precision)
        return None
    if not result.ok:
        raise BundleError(result.message())
    log.info("%s", result.message())
    return result


def self_check_default(bundle: Any, precision: str) -> SelfCheck | None:
    """:func:`require` on the model :func:`~edgeemg.runtime.bundle.load_bundle` stands for: ``precision``'s
    ONNX model on onnxruntime's CPU provider, one thread (else its TFLite model).

    None when the bundle has no golden vectors (with :func:`require`'s warning)
    or no model of that precision (opening one will say so).
    """
    from edgeemg.errors import DeviceError
    from edgeemg.runtime.backends import open_backend

    if precision not in ("int8", "fp32"):
        raise BundleError(f"precision must be 'int8', 'fp32' or None, got {precision!r}")
    have = bundle.available_artifacts()
    fmt = next((f for f in ("onnx", "tflite") if f"{f}-{precision}" in have), None)
    if fmt is None:
        return None
    if load_golden(bundle) is None:
        _warn_unchecked(bundle, precision)
        return None
    try:
        backend = open_backend(bundle, backend="onnxruntime" if fmt == "onnx" else "tflite", precision=precision)
    except (DeviceError, ImportError) as exc:
        log.warning("golden self-check of %s skipped: %s", bundle.path, exc)
        return None
    return require(bundle, backend, precision)


def check_all(bundle: Any) -> tuple[list[SelfCheck], dict[str, str]]:
    """The self-check of every model in the bundle whose runtime is installed here (``edgeemg inspect --verify``).

    Returns the results and, per artifact not checked, why (no golden
    vectors, runtime not installed). Raises nothing for a failed check.
    """
    from edgeemg.errors import DeviceError
    from edgeemg.runtime.backends import open_backend

    names = bundle.available_artifacts()
    if load_golden(bundle) is None:
        return [], {n: f"the bundle has no {GOLDEN_FILE} (exported before the self-check): re-export it"
                    for n in names}
    results, skipped = [], {}
    for name in names:
        fmt, precision = name.split("-")
        try:
            backend = open_backend(bundle, backend="onnxruntime" if fmt == "onnx" else "tflite", precision=precision)
        except (DeviceError, ImportError) as exc:
            skipped[name] = str(exc)
            continue
        res = check_backend(bundle, backend, precision)
        if res is not None:
            results.append(res)
    return results, skipped


def covers(result: SelfCheck | None, backend: Any, precision: str) -> bool:
    """Whether ``result`` already checked what ``backend`` runs (same artifact, same execution providers)."""
    if result is None:
        return False
    fmt = "onnx" if getattr(backend, "name", "") == "onnxruntime" else "tflite"
    return result.artifact == f"{fmt}-{precision}" and result.providers == tuple(getattr(backend, "providers", ()))


__all__ = ["GOLDEN_FILE", "INT8_FEATURES", "SelfCheck", "check_all", "check_backend", "cpu_features", "host_record",
           "covers", "kernel_family", "load_golden", "require", "run_golden", "runtime_versions", "self_check_default"]
