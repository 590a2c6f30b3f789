"""What an export concludes from its held-out figures, in words a user can act on.

Three judgements, each recorded in the manifest and, when it stops or
questions the export, said on stderr with what to change:

* the int8 loss against ``max_loss_pp``, with its bootstrap interval
  (:mod:`edgeemg.export.significance`): refused only when even the interval's
  low end exceeds the tolerance (the loss is real); a point loss over the
  tolerance whose interval reaches below it passes, marked "not significant",
  with a warning to judge on more held-out data;
* parity of an artifact with PyTorch: a refusal names the recipe keys that change it;
* whether the float model itself is useful: no better on held-out data than
  a model that ignores its input (the mean of its outputs for every item)
  means the bundle would decode nothing useful; the export goes on, warns,
  and says so in the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.export.significance import LossInterval, paired_bootstrap

WITHIN, NOT_SIGNIFICANT, REFUSED = "within tolerance", "loss not significant", "refused"


@dataclass(frozen=True)
class LossVerdict:
    """An int8 artifact's metric loss vs fp32, its interval and what it means against the tolerance."""

    artifact: str
    metric: str
    interval: LossInterval
    max_loss_pp: float

    @property
    def status(self) -> str:
        i = self.interval
        if i.loss_pp <= self.max_loss_pp:
            return WITHIN
        return REFUSED if i.low_pp > self.max_loss_pp else NOT_SIGNIFICANT

    def describe(self) -> str:
        """``loses 4.45 pp (95 % interval -1.20 to 9.80 pp, 299 held-out items in blocks of 7)``."""
        i = self.interval
        return (f"loses {i.loss_pp:.2f} pp ({100 * i.confidence:.0f} % interval {i.low_pp:.2f} to {i.high_pp:.2f} pp, "
                f"{i.n_items} held-out items in blocks of {i.block})")

    def warning(self) -> str | None:
        """For a loss over the tolerance that the held-out data cannot confirm: what it means and what to do."""
        if self.status != NOT_SIGNIFICANT:
            return None
        return (f"{self.artifact} {self.metric} {self.describe()}: over max_loss_pp {self.max_loss_pp:g} at this "
                f"point, but the interval reaches below it, so the held-out data cannot tell this loss from noise; "
                f"the bundle is written. To judge it, export with more held-out data (--data with more subjects "
                f"or sessions) and check the interval narrows")

    def to_dict(self) -> dict[str, Any]:
        return {**self.interval.to_dict(), "max_loss_pp": self.max_loss_pp, "status": self.status}


def judge_int8_loss(artifact: str, metric: str, metric_of: Callable[[Any, NDArray], float],
                    loss_pp: Callable[[float, float], float], y: Any, ref_scores: NDArray, got_scores: NDArray,
                    max_loss_pp: float, *, block: int | None = None, seed: int = 0) -> LossVerdict:
    """Paired bootstrap of ``loss_pp(metric(ref), metric(got))`` over the held-out items (axis 0 of all three).

    ``metric_of(y, scores)`` gives the task metric's value; ``loss_pp(ref, got)``
    turns two values into the loss in percentage points (the chain's direction
    and unit rules). ``block``: 1 when items are whole sequences.

    One held-out item (a streaming model's single held-out session, as every
    simulated keystroke export has) cannot be resampled: the interval is then
    the point loss itself (``n_boot`` 0), so the verdict is the plain
    comparison with ``max_loss_pp``.
    """
    y = np.asarray(y)

    def loss_of(idx: NDArray[np.int64]) -> float:
        return loss_pp(metric_of(y[idx], ref_scores[idx]), metric_of(y[idx], got_scores[idx]))

    if len(y) < 2:
        point = loss_of(np.arange(len(y)))
        return LossVerdict(artifact, metric, LossInterval(point, point, point, 0.95, len(y), 1, 0), max_loss_pp)
    return LossVerdict(artifact, metric, paired_bootstrap(loss_of, len(y), block=block, seed=seed), max_loss_pp)


def loss_refusal_advice(calibration_windows: int) -> str:
    """What to change when int8 really loses too much."""
    return (f"to change it: calibrate on more data ([quantize] calibration_windows {calibration_windows} -> "
            f"{2 * calibration_windows}) or with calibration_method \"percentile\" or \"entropy\", keep the layers "
            "that lose most in float ([quantize] dynamic_ops), or, if this loss is acceptable for the use, raise "
            "[tolerance] max_loss_pp")


def parity_refusal(artifact: str, precision: str, judged: str, value: float, limit: float, max_abs: float,
                   calibration_windows: int, loss: LossVerdict | None) -> str:
    """The refusal of an artifact that disagrees with PyTorch, with what to change."""
    msg = f"{artifact} disagrees with PyTorch: {judged} {value:.3g} > tolerance {limit:g} (max abs error {max_abs:.3g})"
    if precision == "fp32":
        return (msg + "; a float conversion should match PyTorch to rounding, so this is a converter problem: "
                "leave the format out (--formats), report it with the checkpoint, or raise [tolerance] fp32_rtol")
    sound = loss is not None and loss.status != REFUSED
    task = f"; the task metric {loss.describe()}, {loss.status}" if loss is not None else ""
    return (msg + task + f"; to change it: calibrate on more data ([quantize] calibration_windows "
            f"{calibration_windows} -> {2 * calibration_windows}) or with calibration_method \"percentile\", keep "
            "the layers that differ most in float ([quantize] dynamic_ops)"
            + (f", or, since the task metric holds, raise [tolerance] int8_rtol to {_round_up(value)}" if sound
               else ""))


def _round_up(x: float) -> str:
    """A tolerance just above ``x``, in two significant digits."""
    digits = 1 - int(np.floor(np.log10(abs(x)))) if x > 0 else 2
    return f"{np.ceil(x * 10 ** digits) / 10 ** digits:g}"


def usefulness(metric: str, fp32_value: float, baseline_value: float, lower_is_better: bool,
               in_percent: bool) -> dict[str, Any]:
    """The manifest record of whether the float model beats an input-ignoring model, with a warning when not."""
    useful = fp32_value < baseline_value if lower_is_better else fp32_value > baseline_value
    record: dict[str, Any] = {"useful": bool(useful), "metric": metric, "fp32": fp32_value,
                              "input_ignoring_baseline": baseline_value}
    if not useful:
        unit = " %" if in_percent else ""
        record["warning"] = (
            f"the fp32 model is useless on the held-out data: {metric} {fp32_value:.4g}{unit}, no better than "
            f"{baseline_value:.4g}{unit} for a model that ignores its input; the bundle will decode nothing useful. "
            "Train longer or on more data (edgeemg train ... --epochs N), check with edgeemg eval, then export")
    return record


def input_ignoring_scores(scores: NDArray) -> NDArray:
    """Every item gets the mean output over all items: what a model that ignores its input can do at best."""
    return np.broadcast_to(scores.mean(axis=0, keepdims=True), scores.shape).copy()


__all__ = ["LossVerdict", "NOT_SIGNIFICANT", "REFUSED", "WITHIN", "input_ignoring_scores", "judge_int8_loss",
           "loss_refusal_advice", "parity_refusal", "usefulness"]
