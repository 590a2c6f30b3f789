"""CTC primitives of the keystroke decoder (numpy only, board side): prefix nodes, log-space sums, greedy path.

A beam prefix is a :class:`Node` with a parent pointer (a trie without child
maps); the text it leaves on screen is a persistent stack of :class:`Screen`
entries, so a backspace is a pop that keeps the popped character's LM score.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.charset import CHARSET, Charset
from edgeemg.errors import InvalidInputError


class Screen:
    """One character of the on-screen text (a persistent stack: popping is following ``prev``).

    ``lm_row`` caches the LM's next-symbol log-probabilities after this text: the
    beam extends the same prefixes by several classes, frame after frame.
    """

    __slots__ = ("sym", "lm_logp", "prev", "lm_row")

    def __init__(self, sym: int, lm_logp: float, prev: Screen | None) -> None:
        self.sym, self.lm_logp, self.prev = sym, lm_logp, prev
        self.lm_row: NDArray[np.float64] | None = None


class Node:
    """A prefix of the decoded key sequence: its last class and a parent pointer (a trie without child maps)."""

    __slots__ = ("label", "parent", "depth", "frame", "onset_index", "screen")

    def __init__(self, label: int, parent: Node | None, frame: int, onset_index: int, screen: Screen | None) -> None:
        self.label, self.parent, self.frame, self.onset_index, self.screen = label, parent, frame, onset_index, screen
        self.depth = 0 if parent is None else parent.depth + 1


def logaddexp(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) of two Python floats (the beam adds scalars one at a time: math beats numpy here)."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = a if a > b else b
    return m + math.log1p(math.exp(-abs(a - b)))


def log_softmax(x: NDArray[np.floating]) -> NDArray[np.float64]:
    """Row-wise log-softmax in float64 (idempotent on log-probabilities; makes int8 logits usable)."""
    z = np.asarray(x, dtype=np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))


def greedy_decode(emissions: Any, charset: Charset = CHARSET) -> str:
    """Best-path decoding of a whole (n_frames, n_classes) array: argmax, collapse repeats, drop blanks."""
    e = np.asarray(emissions)
    if e.ndim != 2 or e.shape[1] != charset.num_classes:
        raise InvalidInputError(f"greedy_decode: emissions must be (n_frames, {charset.num_classes}), got {e.shape}")
    best = e.argmax(axis=1)
    keep = (best != charset.blank) & np.r_[True, best[1:] != best[:-1]]
    return charset.labels_to_str(best[keep].tolist())


__all__ = ["Node", "Screen", "greedy_decode", "log_softmax", "logaddexp"]
