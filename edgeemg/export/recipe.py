"""Export recipes (`export/<task>.toml`): what to prune, how to quantize, which formats, what loss is tolerated.

Recipes are data an integrator edits. Each section is a frozen dataclass and
unknown keys are refused with the file and section named (onnxruntime's
free-form ``extra_options`` dict is the example not to follow).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edgeemg.errors import DictConfig, InvalidInputError
from edgeemg.shipped import read_toml, shipped_dir

#: The recipes that ship with edgeemg (the wheel's copy, or the source checkout's export/ folder).
RECIPE_DIR = shipped_dir("export")
PRUNE_METHODS = ("none", "l1-filter")
QUANT_SCHEMES = ("static", "dynamic")
FORMATS = ("onnx", "tflite")


@dataclass(frozen=True)
class PruneConfig(DictConfig):
    method: str = "l1-filter"
    ratio: float = 0.25
    finetune_epochs: int = 3
    channel_multiple: int = 1  # kept filter counts rounded to a multiple of this (SIMD-friendly channel blocks)


@dataclass(frozen=True)
class QuantizeConfig(DictConfig):
    scheme: str = "static"
    per_channel: bool = True
    weight_type: str = "int8"
    activation_type: str = "int8"
    reduce_range: bool = False  # 7-bit weights: no int16 saturation in x86 AVX2 / AVX-512 (non-VNNI) u8 x s8 kernels
    calibration_windows: int = 512
    calibration_method: str = "minmax"
    dynamic_ops: tuple[str, ...] = ()
    float_head: bool = False  # the output layer (last MatMul/Gemm/Conv, its bias Add, the softmax/sigmoid) stays float
    float_first: bool = False  # the first layer (the first MatMul/Gemm/Conv after the input's layout ops) stays float

    LIST_FIELDS = ("dynamic_ops",)


@dataclass(frozen=True)
class ConvertConfig(DictConfig):
    formats: tuple[str, ...] = FORMATS
    optimize: bool = True

    LIST_FIELDS = ("formats",)


@dataclass(frozen=True)
class ToleranceConfig(DictConfig):
    """What the export verifies.

    ``metric`` must be one the task reports (``macro_f1``, ``accuracy`` ...);
    ``max_loss_pp``: the most the int8 artifact may lose against the checkpoint's
    fp32 model on held-out data, in percentage points (pruning included: it is
    what the user gives up by exporting). Parity compares each artifact's
    outputs with the (pruned) PyTorch model's on the same held-out inputs,
    errors scaled by the largest |output|: ``fp32_rtol`` bounds the largest
    error of float artifacts (rounding only); ``int8_rtol`` bounds the 99th
    percentile of per-item errors of int8 ones (quantization noise, with rare
    clipped outliers tolerated; the metric gate is the real judge).
    ``int8_drift_rtol`` bounds, on the same scale, how far a board's int8
    outputs for the bundle's golden vectors may drift from the export host's
    before the board refuses to decode (:mod:`edgeemg.runtime.selfcheck`):
    a portable scheme drifts by exactly 0 across CPU kernel families, the
    saturating one by one output step (~0.008 of scale for an 8-bit output)
    up to 0.26 on AVX2 (benchmarks/report_int8_portability.py); 0.005 is
    below one step, so an output computed differently is caught, and above
    the one benign drift measured (TFLite int8 keystroke on Cortex-A76, 0.0033).
    """

    metric: str = "accuracy"
    max_loss_pp: float = 1.0
    fp32_rtol: float = 1e-4
    int8_rtol: float = 0.25
    int8_drift_rtol: float = 0.005


@dataclass(frozen=True)
class Recipe:
    task: str
    prune: PruneConfig
    quantize: QuantizeConfig
    convert: ConvertConfig
    tolerance: ToleranceConfig

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, **{s: getattr(self, s).to_dict() for s in ("prune", "quantize", "convert", "tolerance")}}


def _section(cls: type, data: dict[str, Any], name: str, source: str) -> Any:
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInputError(f"{source}: unknown key(s) {unknown} in [{name}]; allowed keys are {sorted(allowed)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def recipe_from_dict(data: dict[str, Any], *, source: str = "<dict>") -> Recipe:
    """Validate a parsed recipe and return it; every error names ``source``."""
    sections = {"prune": PruneConfig, "quantize": QuantizeConfig, "convert": ConvertConfig, "tolerance": ToleranceConfig}
    unknown = sorted(set(data) - {"task", *sections})
    if unknown:
        raise InvalidInputError(f"{source}: unknown section(s) {unknown}; allowed are task, {', '.join(sections)}")
    if "task" not in data:
        raise InvalidInputError(f"{source}: missing 'task'")
    parts = {name: _section(cls, data.get(name, {}), name, source) for name, cls in sections.items()}
    recipe = Recipe(task=str(data["task"]), **parts)
    if recipe.prune.method not in PRUNE_METHODS:
        raise InvalidInputError(f"{source}: [prune] method must be one of {PRUNE_METHODS}, got '{recipe.prune.method}'")
    if not 0.0 <= recipe.prune.ratio < 1.0:
        raise InvalidInputError(f"{source}: [prune] ratio must be in [0, 1), got {recipe.prune.ratio}")
    if recipe.quantize.scheme not in QUANT_SCHEMES:
        raise InvalidInputError(f"{source}: [quantize] scheme must be one of {QUANT_SCHEMES}, got '{recipe.quantize.scheme}'")
    if recipe.quantize.calibration_windows < 1:
        raise InvalidInputError(f"{source}: [quantize] calibration_windows must be >= 1")
    bad = sorted(set(recipe.convert.formats) - set(FORMATS))
    if bad:
        raise InvalidInputError(f"{source}: [convert] formats {bad} unknown; allowed are {FORMATS}")
    if recipe.tolerance.max_loss_pp < 0:
        raise InvalidInputError(f"{source}: [tolerance] max_loss_pp must be >= 0, got {recipe.tolerance.max_loss_pp}")
    for name in ("fp32_rtol", "int8_rtol", "int8_drift_rtol"):
        if not getattr(recipe.tolerance, name) > 0:
            raise InvalidInputError(f"{source}: [tolerance] {name} must be > 0, got {getattr(recipe.tolerance, name)}")
    if recipe.prune.channel_multiple < 1:
        raise InvalidInputError(f"{source}: [prune] channel_multiple must be >= 1, got {recipe.prune.channel_multiple}")
    if recipe.prune.finetune_epochs < 0:
        raise InvalidInputError(f"{source}: [prune] finetune_epochs must be >= 0, got {recipe.prune.finetune_epochs}")
    return recipe


def load_recipe(path_or_task: str | Path) -> Recipe:
    """Load ``export/<task>.toml`` by task name, or any recipe file by path."""
    path = Path(path_or_task)
    if path.suffix != ".toml":
        # file names use underscores where task names use dashes ("motor-units" -> export/motor_units.toml)
        path = RECIPE_DIR / f"{str(path_or_task).replace('-', '_')}.toml"
    return recipe_from_dict(read_toml(path, "export recipe"), source=str(path))
