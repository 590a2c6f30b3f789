"""Model backends: the bundle's exported model behind one call, ``run(feeds) -> outputs`` (no torch).

Two backends, chosen by the board profile (``targets/*.toml``, key ``backend``):

``onnxruntime``
    The profile's execution providers in order (TensorRT, CUDA on a Jetson;
    CPU elsewhere). A provider this onnxruntime build lacks, or one that fails
    to build a session for the model, is dropped with a warning and the model
    runs on the CPU provider: a board that lost its GPU driver keeps decoding,
    more slowly, rather than stopping. ``intra_op_num_threads`` comes from the
    profile; one inter-op thread and sequential execution, because the models
    are small and a second pool only adds wake-up jitter.
``tflite``
    The LiteRT interpreter from ``ai-edge-litert``, falling back to the older
    ``tflite-runtime`` package where that is what a board ships. TFLite models
    are exported with batch 1, so a batch is run item by item; int8 inputs and
    outputs are (de)quantised here with the tensor's own scale and zero point.

Both backends take and return float32 arrays keyed by the manifest's tensor
names, so the engine never sees which one runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import BundleError, DeviceError, InvalidInputError

log = logging.getLogger(__name__)

BACKENDS = ("onnxruntime", "tflite")
CPU_PROVIDER = "CPUExecutionProvider"


class Backend(Protocol):
    """What the engine calls: named float32 inputs in, named float32 outputs out."""

    name: str  # "onnxruntime" | "tflite"
    path: Path
    providers: tuple[str, ...]  # what actually runs the model (onnxruntime), () for tflite

    def run(self, feeds: dict[str, NDArray[np.float32]]) -> dict[str, NDArray[np.float32]]: ...


class OnnxBackend:
    """An onnxruntime session with the profile's providers and threads.

    Parameters
    ----------
    path : path-like
        ``model.int8.onnx`` (or the fp32 twin) of a bundle.
    providers : sequence of str
        Execution providers in order of preference; unavailable ones are
        dropped with a warning, and the CPU provider is always appended last.
    threads : int
        ``intra_op_num_threads``.
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, *, providers: Sequence[str] = (CPU_PROVIDER,), threads: int = 1) -> None:
        import onnxruntime as ort

        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise InvalidInputError(f"OnnxBackend: threads must be an integer >= 1, got {threads!r}")
        self.path = Path(path)
        available = set(ort.get_available_providers())
        wanted = [p for p in providers if p != CPU_PROVIDER]
        missing = [p for p in wanted if p not in available]
        if missing:
            log.warning("onnxruntime here lacks %s (it has %s); falling back to %s", missing, sorted(available),
                        [p for p in wanted if p in available] + [CPU_PROVIDER])
        chosen = [p for p in wanted if p in available] + [CPU_PROVIDER]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        try:
            self._sess = ort.InferenceSession(str(self.path), sess_options=so, providers=chosen)
        except Exception as exc:  # a GPU provider that cannot build this model: run on the CPU instead
            if chosen == [CPU_PROVIDER]:
                raise BundleError(f"onnxruntime cannot load {self.path}: {exc}") from exc
            log.warning("onnxruntime could not build a session with %s (%s); falling back to %s",
                        chosen, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, CPU_PROVIDER)
            self._sess = ort.InferenceSession(str(self.path), sess_options=so, providers=[CPU_PROVIDER])
        self.providers = tuple(self._sess.get_providers())
        self.threads = threads
        self.input_names = tuple(i.name for i in self._sess.get_inputs())
        self.output_names = tuple(o.name for o in self._sess.get_outputs())

    def run(self, feeds: dict[str, NDArray[np.float32]]) -> dict[str, NDArray[np.float32]]:
        """One session call over the whole batch (the ONNX models take any batch size)."""
        outs = self._sess.run(None, feeds)
        return dict(zip(self.output_names, outs))


def _tflite_interpreter_class() -> tuple[Any, str]:
    """ai-edge-litert's Interpreter, else tflite-runtime's (older boards), else a clear error."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        log.warning("ai-edge-litert is not installed; using tflite-runtime's interpreter")
        return Interpreter, "tflite-runtime"
    except ImportError:
        raise DeviceError(
            "the tflite backend needs a TFLite interpreter: pip install ai-edge-litert (or tflite-runtime on "
            "boards that still ship it), or choose backend = \"onnxruntime\" in the target profile"
        ) from None


class TFLiteBackend:
    """A TFLite interpreter; batch-1 models run item by item.

    Parameters
    ----------
    path : path-like
        ``model.int8.tflite`` or ``model.fp32.tflite``.
    input_names, output_names : sequence of str
        The manifest's names for the interpreter's inputs and outputs, in the
        interpreter's order (TFLite renames tensors, e.g. ``serving_default_args_0``).
    threads : int
    """

    name = "tflite"

    def __init__(self, path: str | Path, *, input_names: Sequence[str], output_names: Sequence[str],
                 threads: int = 1) -> None:
        cls, self.package = _tflite_interpreter_class()
        self.path = Path(path)
        self.providers: tuple[str, ...] = ()
        self.threads = int(threads)
        try:
            self._it = cls(model_path=str(self.path), num_threads=self.threads)
            self._it.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise BundleError(f"{self.package} cannot load {self.path}: {exc}") from exc
        self._in = self._it.get_input_details()
        self._out = self._it.get_output_details()
        if len(self._in) != len(input_names) or len(self._out) != len(output_names):
            raise BundleError(
                f"{self.path}: the TFLite model has {len(self._in)} inputs and {len(self._out)} outputs, the "
                f"manifest names {list(input_names)} and {list(output_names)}"
            )
        self.input_names, self.output_names = tuple(input_names), tuple(output_names)

    def _set(self, detail: dict[str, Any], value: NDArray[np.float32]) -> None:
        v = np.asarray(value, dtype=np.float32)
        if detail["dtype"] != np.float32:
            scale, zero = detail["quantization"]
            info = np.iinfo(detail["dtype"])
            v = np.clip(np.round(v / scale) + zero, info.min, info.max)
        self._it.set_tensor(detail["index"], v.astype(detail["dtype"]).reshape(detail["shape"]))

    def _get(self, detail: dict[str, Any]) -> NDArray[np.float32]:
        y = self._it.get_tensor(detail["index"])
        if detail["dtype"] != np.float32:
            scale, zero = detail["quantization"]
            return ((y.astype(np.float32) - zero) * scale).astype(np.float32)
        return y.astype(np.float32, copy=True)

    def run(self, feeds: dict[str, NDArray[np.float32]]) -> dict[str, NDArray[np.float32]]:
        """Item by item over the batch axis; outputs stacked back into a batch."""
        n = next(iter(feeds.values())).shape[0]
        outs: list[list[NDArray[np.float32]]] = [[] for _ in self._out]
        for i in range(n):
            for name, detail in zip(self.input_names, self._in):
                self._set(detail, feeds[name][i : i + 1])
            self._it.invoke()
            for k, detail in enumerate(self._out):
                outs[k].append(self._get(detail))
        return {name: np.concatenate(o) if o else np.empty((0,), np.float32)
                for name, o in zip(self.output_names, outs)}


def open_backend(bundle: Any, *, backend: str = "onnxruntime", precision: str = "int8",
                 providers: Sequence[str] = (CPU_PROVIDER,), threads: int = 1) -> Backend:
    """The bundle's model at ``precision`` on ``backend``.

    Raises
    ------
    InvalidInputError
        Unknown backend or precision.
    BundleError
        The bundle has no such artifact (with the exporter's recorded reason).
    DeviceError
        The backend's runtime is not installed.
    """
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if precision not in ("int8", "fp32"):
        raise InvalidInputError(f"precision must be 'int8' or 'fp32', got {precision!r}")
    m = bundle.manifest
    state = m["state"]
    in_names = [m["input"]["name"], *(s["input"] for s in state)]
    out_names = [o["name"] for o in m["outputs"]] + [s["output"] for s in state]
    if backend == "onnxruntime":
        b = OnnxBackend(bundle.artifact("onnx", precision), providers=providers, threads=threads)
        missing = sorted(set(in_names) - set(b.input_names)) + sorted(set(out_names) - set(b.output_names))
        if missing:
            raise BundleError(f"{b.path}: the manifest names tensors {missing} that the model does not have "
                              f"(inputs {list(b.input_names)}, outputs {list(b.output_names)})")
        return b
    return TFLiteBackend(bundle.artifact("tflite", precision), input_names=in_names, output_names=out_names,
                         threads=threads)


__all__ = ["BACKENDS", "Backend", "OnnxBackend", "TFLiteBackend", "open_backend"]
