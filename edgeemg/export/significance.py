"""How sure is an int8 loss? A paired block bootstrap of the metric difference on the held-out items.

An export compares the int8 model's task metric with the float model's on the
same held-out items. On one held-out subject (299 gait windows) a 4 pp
difference can be noise: a handful of windows near a transition flip. So the
chain reports the loss with an interval and refuses only a loss that is real.

Why *paired*: both models are scored on the same resampled items, so what the
items have in common (hard windows, an odd subject) cancels and the interval
measures the difference only. Why *block*: held-out items come in time order
and neighbours overlap (gait windows at 50 % overlap, chunks of one typing
session), so they are not independent; resampling single items would make the
interval too narrow. Blocks of consecutive items (length about n^(1/3), the
usual moving-block rule; 1 when items are whole sequences) keep that
dependence. ``scipy.stats.bootstrap`` resamples items independently only,
hence this small loop; its percentile interval is the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import InvalidInputError


@dataclass(frozen=True)
class LossInterval:
    """A metric loss with its bootstrap interval, in percentage points (positive = the artifact is worse).

    Attributes
    ----------
    loss_pp : float
        On all held-out items.
    low_pp, high_pp : float
        Percentile interval of the resampled losses at ``confidence``.
    confidence : float
    n_items : int
        Held-out items resampled (windows, or whole sequences for a streaming model).
    block : int
        Consecutive items per resampled block.
    n_boot : int
        Resamples drawn.
    """

    loss_pp: float
    low_pp: float
    high_pp: float
    confidence: float
    n_items: int
    block: int
    n_boot: int

    def to_dict(self) -> dict[str, float | int]:
        return {"loss_pp": self.loss_pp, "ci_low_pp": self.low_pp, "ci_high_pp": self.high_pp,
                "confidence": self.confidence, "n_items": self.n_items, "block": self.block, "n_boot": self.n_boot}


def default_block(n_items: int) -> int:
    """Moving-block length n^(1/3) (at least 1, at most n)."""
    return int(min(max(1, round(n_items ** (1.0 / 3.0))), max(n_items, 1)))


def block_indices(n_items: int, block: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """One moving-block resample: ceil(n / block) random runs of ``block`` consecutive items, cut to n."""
    starts = rng.integers(0, n_items - block + 1, size=-(-n_items // block))
    return (starts[:, None] + np.arange(block)).reshape(-1)[:n_items]


def paired_bootstrap(loss_of: Callable[[NDArray[np.int64]], float], n_items: int, *, confidence: float = 0.95,
                     n_boot: int = 1000, block: int | None = None, seed: int = 0,
                     budget_s: float | None = 20.0) -> LossInterval:
    """Bootstrap interval of ``loss_of(items)``, the loss computed on a resample of held-out item indices.

    Parameters
    ----------
    loss_of : callable(ndarray of int64) -> float
        The loss (pp) of the artifact vs the reference on the items with these
        indices, both scored on the *same* items (that makes it paired).
    n_items : int
    confidence : float
        Two-sided coverage of the interval, in (0, 1).
    n_boot : int
        Resamples wanted; fewer are drawn (never under 200) when one loss
        takes so long that ``n_boot`` would exceed ``budget_s`` seconds (a
        keystroke metric decodes every sequence).
    block : int, optional
        Consecutive items per block; default :func:`default_block`.
    seed : int
        Seeds the resampling (a private generator).

    Returns
    -------
    LossInterval
    """
    if n_items < 2:
        raise InvalidInputError(f"a bootstrap needs at least 2 held-out items, got {n_items}")
    if not 0.0 < confidence < 1.0:
        raise InvalidInputError(f"confidence must be in (0, 1), got {confidence}")
    block = default_block(n_items) if block is None else int(min(max(block, 1), n_items))
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    point = float(loss_of(np.arange(n_items)))
    per_call = max(time.perf_counter() - t0, 1e-6)
    if budget_s is not None:
        n_boot = max(200, min(n_boot, int(budget_s / per_call)))
    losses = np.array([loss_of(block_indices(n_items, block, rng)) for _ in range(n_boot)], dtype=np.float64)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(losses, [100 * alpha, 100 * (1 - alpha)])
    return LossInterval(point, float(low), float(high), confidence, int(n_items), block, int(n_boot))


__all__ = ["LossInterval", "block_indices", "default_block", "paired_bootstrap"]
