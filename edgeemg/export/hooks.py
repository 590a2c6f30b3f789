"""The contract between the export chain and a task: what a task hands over to be exported.

The chain (:mod:`edgeemg.export.chain`) knows no task. It asks the task's
``export_hooks`` module (``edgeemg.tasks.<task>.export_hooks``) for a
:class:`TaskExport`: the float module, how to prune it, a calibration reader,
held-out inputs with labels and the task metric, a fine-tune callback and the
manifest fields. Keystroke and motor units add their hooks the same way; a
streaming model lists its state tensors in ``manifest["state"]`` and exposes
them as extra inputs/outputs of the module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import ExportError, InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint


class CalibrationReader(Protocol):
    """onnxruntime's ``CalibrationDataReader`` shape: ``get_next()`` -> ``{input_name: array}`` or None."""

    def get_next(self) -> dict[str, NDArray[np.float32]] | None: ...

    def rewind(self) -> None: ...


class WindowCalibrationReader:
    """Pull-based calibration batches drawn from a task's training inputs.

    Parameters
    ----------
    x : ndarray of float32, shape (n_items, *item_shape)
        Training inputs as the DSP produced them (the model's input layout).
    n_items : int
        How many items to draw (the recipe's ``calibration_windows``); all of
        them when fewer exist.
    input_name : str
        ONNX input name the batches are keyed by.
    seed : int
        Seeds which items are drawn (a private generator, no global RNG).
    batch_size : int
        Most items per ``get_next()``; lowered to the largest divisor of the
        item count so every batch has one shape (onnxruntime's histogram
        calibrators, percentile and entropy, stack the batches' activations
        into one array and fail on a short last batch). Bounds memory only.

    Notes
    -----
    It is also an iterator of torch-ready arrays (:meth:`batches`) so the same
    items calibrate the PT2E (TFLite) path, and both int8 models see identical
    calibration data. It implements onnxruntime's ``CalibrationDataReader``
    protocol by duck typing (``get_next``), which ``quantize_static`` accepts.
    """

    def __init__(self, x: NDArray[np.float32], n_items: int, *, input_name: str, seed: int,
                 batch_size: int = 32) -> None:
        if x.ndim < 2 or len(x) == 0:
            raise InvalidInputError(f"WindowCalibrationReader: need (n_items, ...) inputs, got shape {x.shape}")
        if n_items < 1:
            raise InvalidInputError(f"WindowCalibrationReader: n_items must be >= 1, got {n_items}")
        rng = np.random.default_rng(seed)
        take = min(n_items, len(x))
        self._idx = np.sort(rng.choice(len(x), size=take, replace=False))
        self._x = x
        self.input_name = input_name
        self.batch_size = max(d for d in range(1, max(1, int(batch_size)) + 1) if take % d == 0)
        self.n_items = int(take)
        self._pos = 0

    def get_next(self) -> dict[str, NDArray[np.float32]] | None:
        if self._pos >= self.n_items:
            return None
        idx = self._idx[self._pos : self._pos + self.batch_size]
        self._pos += len(idx)
        return {self.input_name: np.ascontiguousarray(self._x[idx], dtype=np.float32)}

    def rewind(self) -> None:
        self._pos = 0

    def batches(self) -> Iterator[NDArray[np.float32]]:
        """All calibration batches once, from the start (rewinds first)."""
        self.rewind()
        while (item := self.get_next()) is not None:
            yield item[self.input_name]
        self.rewind()

    def stats(self) -> dict[str, Any]:
        """Input statistics of the calibration items, for the manifest."""
        x = self._x[self._idx]
        return {"n_items": self.n_items, "min": float(x.min()), "max": float(x.max()), "mean": float(x.mean()),
                "std": float(x.std()), "p01": float(np.percentile(x, 0.1)), "p999": float(np.percentile(x, 99.9))}


@dataclass(frozen=True)
class StateTensor:
    """One tensor a streaming model carries from one call to the next (an extra input and output).

    Attributes
    ----------
    input : str
        Graph input name that receives the state (zeros at the start of a sequence).
    output : str
        Graph output name that returns the updated state, fed back as ``input`` next call.
    shape : tuple of int
        Full shape at batch 1, as the runtime allocates it (an LSTM's ``h`` is
        (layers, batch, hidden): the batch axis is not always first, which is
        why stateful models are exported and run at batch 1).
    dtype : str
    """

    input: str
    output: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    def zeros(self) -> NDArray[np.float32]:
        return np.zeros(self.shape, dtype=np.dtype(self.dtype))

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's ``state`` entry, the form :class:`edgeemg.runtime.engine.Engine` reads."""
        return {"input": self.input, "output": self.output, "shape": list(self.shape), "dtype": self.dtype,
                "init": "zeros"}


class SequenceCalibrationReader:
    """Calibration feeds for a stateful model: chunks of real sequences with the state they arrive with.

    A streaming model's state inputs (conv caches, LSTM h/c) are activations
    like any other: quantizing them with ranges learnt from zeros would clip
    them on the board. So each item is ``{input: chunk, state_in: state}``
    where ``state`` is what the float model carried into that chunk when the
    whole sequence was run chunk by chunk (the caller computes it).

    Parameters
    ----------
    feeds : list of dict
        One dict per chunk, batch 1: ``{input_name: (1, *item), state inputs...}``.
    n_items : int
        How many to draw (the recipe's ``calibration_windows``); all when fewer.
    input_name : str
    seed : int
        Seeds which chunks are drawn.

    Notes
    -----
    Batch 1 only: state tensors do not share one batch axis (an LSTM's is axis
    1), and the model is exported at batch 1. ``batches()`` yields the data
    inputs alone, for a converter that takes example inputs.
    """

    def __init__(self, feeds: list[dict[str, NDArray[np.float32]]], n_items: int, *, input_name: str,
                 seed: int) -> None:
        if not feeds:
            raise InvalidInputError("SequenceCalibrationReader: no calibration chunks (the sequences were empty)")
        if n_items < 1:
            raise InvalidInputError(f"SequenceCalibrationReader: n_items must be >= 1, got {n_items}")
        rng = np.random.default_rng(seed)
        take = min(n_items, len(feeds))
        self._items = [feeds[i] for i in np.sort(rng.choice(len(feeds), size=take, replace=False))]
        self.input_name = input_name
        self.n_items = int(take)
        self.batch_size = 1
        self._pos = 0

    def get_next(self) -> dict[str, NDArray[np.float32]] | None:
        if self._pos >= self.n_items:
            return None
        self._pos += 1
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in self._items[self._pos - 1].items()}

    def rewind(self) -> None:
        self._pos = 0

    def feeds(self) -> list[dict[str, NDArray[np.float32]]]:
        """Every calibration feed (input and state), in order."""
        return list(self._items)

    def batches(self) -> Iterator[NDArray[np.float32]]:
        """The data input of every item once (batch 1)."""
        for item in self._items:
            yield item[self.input_name]

    def stats(self) -> dict[str, Any]:
        """Input statistics of the calibration chunks (data input only), for the manifest."""
        x = np.stack([item[self.input_name] for item in self._items])
        return {"n_items": self.n_items, "item": "one chunk with the state the float model carried into it",
                "min": float(x.min()), "max": float(x.max()), "mean": float(x.mean()), "std": float(x.std()),
                "p01": float(np.percentile(x, 0.1)), "p999": float(np.percentile(x, 99.9))}


@dataclass(frozen=True)
class PruneGroup:
    """One set of channels removed together: a producer's outputs and every consumer's matching inputs.

    Attributes
    ----------
    producer : str
        Dotted name of the Conv/Linear whose output channels (dim 0) are ranked
        by L1 norm and pruned.
    consumers : tuple of (str, int)
        Dotted names of the layers that read those channels, each with the
        number of consecutive input features per channel (1 for a conv, the
        flattened length for a Linear after ``flatten``).
    """

    producer: str
    consumers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class HeldOut:
    """Held-out inputs, labels and where they came from (subjects never used for training).

    For a stateful task (``TaskExport.state`` not empty) ``x`` is
    (n_sequences, n_chunks, *input_shape): each sequence is run chunk by chunk
    from zero state with the state fed back, and the metric sees the outputs
    as (n_sequences, n_chunks, *output_shape); ``y`` is whatever the task's
    metric needs to look the truth up (e.g. sequence indices).
    """

    x: NDArray[np.float32]
    y: NDArray[np.int64]
    source: str


@dataclass
class TaskExport:
    """Everything the chain needs from a task for one checkpoint.

    Attributes
    ----------
    module : torch.nn.Module
        Float model in eval mode; input (batch, *input_shape) float32, output logits.
    input_shape : tuple of int
        One item's shape (batch excluded): a gait window (400, 6), a muscle segment (64, 65, 1).
    prune_groups : list of PruneGroup
        What structured pruning may remove (empty: the task does not prune).
    calibration : WindowCalibrationReader or SequenceCalibrationReader
    held_out : HeldOut
    metric : callable (y_true, y_pred_scores) -> dict of float
        Task metrics from class scores; must contain the recipe's tolerance metric.
    finetune : callable (module, epochs, progress) -> module
        Short training on the task's training data after pruning.
    manifest : dict
        Task fields of the bundle manifest (task, model, fs_hz, channel_names,
        dsp, window, hop, labels, decoder, decoder_class, outputs kind,
        algorithmic_latency_ms, state, extra task keys such as ``segment``).
    """

    module: Any
    input_shape: tuple[int, ...]
    prune_groups: list[PruneGroup]
    calibration: WindowCalibrationReader
    held_out: HeldOut
    metric: Callable[[NDArray[np.int64], NDArray[np.float32]], dict[str, float]]
    finetune: Callable[[Any, int, bool], Any]
    manifest: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    state: list[StateTensor] = field(default_factory=list)
    """Carried tensors of a streaming model; the module is then ``forward(x, *state_in) -> (out, *state_out)``."""
    output_name: str = "logits"
    dynamic_axes: dict[int, str] = field(default_factory=dict)
    """Input axes (batch excluded, 0-based over ``input_shape``) exported as dynamic, e.g. {0: "frames"}."""
    metric_lower_is_better: bool = False
    """True for error rates (CER): the int8 loss is then int8 minus fp32."""
    metric_in_percent: bool = False
    """True when the metric is already in percent (CER 23.6), so a loss is its difference, not 100 x it."""
    extra_files: dict[str, Path] = field(default_factory=dict)
    """Bundle file name -> source path copied into the bundle (and hashed), e.g. a decoder's LM."""
    onnx_opset: int | None = None
    """Set when the module must go through the dynamo exporter (stateful streaming forms); None: the default."""
    float_modules: tuple[str, ...] = ()
    """Dotted names of ``module``'s submodules the int8 artifacts keep float, where the task has measured that their
    int8 form is the loss (motor units: the C1 filters started as the teacher's whitening-folded sources)."""


@dataclass(frozen=True)
class DataSource:
    """Where the task draws calibration, fine-tune and held-out data from.

    ``data`` None and a checkpoint trained with ``--simulate``: re-simulate with
    the checkpoint's seed (``plan`` overrides the workflow's default amount).
    """

    data: tuple[Path, ...] | None = None
    plan: Any = None
    held_out_seed: int | None = None
    lm: Path | None = None
    """A language model for the task's board decoder (keystroke: ``edgeemg lm build``); copied into the bundle."""


HOOK_MODULES = {
    "gait": "edgeemg.tasks.gait.export_hooks",
    "muscle": "edgeemg.tasks.muscle_health.export_hooks",
    "keystroke": "edgeemg.tasks.keystroke.export_hooks",
    "motor-units": "edgeemg.tasks.motor_units.export_hooks",
}


def task_export(ckpt: Checkpoint, *, source: DataSource, calibration_items: int, progress: bool) -> TaskExport:
    """Ask the checkpoint's task for its :class:`TaskExport` (``export_hooks.prepare``)."""
    module_name = HOOK_MODULES.get(ckpt.task)
    if module_name is None:
        raise ExportError(f"checkpoint task '{ckpt.task}' is unknown; exportable tasks are {sorted(HOOK_MODULES)}")
    try:
        hooks = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ExportError(f"task '{ckpt.task}' has no export hooks yet ({module_name} is missing)") from None
        raise
    return hooks.prepare(ckpt, source=source, calibration_items=calibration_items, progress=progress)


def resolve_recordings_source(ckpt: Checkpoint, source: DataSource) -> tuple[list[Path] | None, bool]:
    """(data paths, simulate) for a task's ``load_recordings``: --data if given, else how it was trained."""
    if source.data:
        return list(source.data), False
    trained_on = ckpt.meta.get("data")
    if trained_on == "simulated":
        return None, True
    paths = [Path(p) for p in (trained_on or [])]
    missing = [str(p) for p in paths if not p.exists()]
    if not paths or missing:
        raise ExportError(
            f"the checkpoint was trained on {trained_on!r}, which is not available here "
            f"(missing: {missing or 'no paths recorded'}); pass --data PATH... with the task's training recordings "
            "for calibration and fine-tuning"
        )
    return paths, False


__all__ = ["CalibrationReader", "DataSource", "HeldOut", "PruneGroup", "SequenceCalibrationReader", "StateTensor",
           "TaskExport", "WindowCalibrationReader",
           "task_export"]
