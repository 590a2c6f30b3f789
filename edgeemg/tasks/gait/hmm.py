"""A causal HMM over gait states: transitions fitted on training labels, forward filtering (numpy only).

Why an HMM rather than a majority vote: gait states follow one order
(stand -> start -> walk -> stop -> stand), and a classifier's flicker near a
transition mostly proposes impossible jumps (walk -> start, stop -> walk). The
forward pass weighs every new frame against the path so far, so an impossible
jump needs overwhelming evidence while an expected one needs little: the
smoother costs no fixed delay, unlike a vote over past windows.

The model's class posteriors, trained with class-balanced weights, stand in
for likelihoods up to a constant (the "scaled likelihood" of hybrid HMMs).
Consecutive frames overlap heavily (a 1.3 s receptive field every 20 ms), so
their evidence is far from independent; ``evidence_weight`` (< 1) discounts
each frame's log-likelihood, a tempering chosen on validation data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import InvalidInputError

PSEUDO_COUNT = 0.01
"""Added to every transition count: a transition never seen in training stays possible (~1e-6 per frame), so
a missed stop cannot lock the filter in walk for ever."""


def fit_transitions(sequences: list[Any], n_states: int, *, pseudo_count: float = PSEUDO_COUNT) -> NDArray[np.float64]:
    """Row-stochastic transition matrix from frame-rate state sequences (counts of consecutive pairs).

    ``T[i, j]`` = P(state j at frame t+1 | state i at frame t), estimated by
    counting, with ``pseudo_count`` added to every cell.
    """
    counts = np.full((n_states, n_states), float(pseudo_count))
    for seq in sequences:
        s = np.asarray(seq, dtype=np.int64)
        if s.size and (s.min() < 0 or s.max() >= n_states):
            raise InvalidInputError(f"fit_transitions: states must be in 0..{n_states - 1}, got {s.min()}..{s.max()}")
        np.add.at(counts, (s[:-1], s[1:]), 1.0)
    return counts / counts.sum(axis=1, keepdims=True)


def _logsumexp(a: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    m = a.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.exp(a - m).sum(axis=axis))


class ForwardFilter:
    """Streaming forward pass: ``alpha_t(j) ∝ lik_t(j)^w * sum_i alpha_{t-1}(i) T[i, j]`` in the log domain.

    Parameters
    ----------
    transitions : array (n, n)
        Row-stochastic transition matrix.
    initial : array (n,) or None
        Prior of the first frame (uniform when None).
    evidence_weight : float
        Exponent ``w`` on each frame's likelihood (see the module docstring).
    """

    def __init__(self, transitions: Any, initial: Any = None, evidence_weight: float = 1.0) -> None:
        t = np.asarray(transitions, dtype=np.float64)
        if t.ndim != 2 or t.shape[0] != t.shape[1] or not np.allclose(t.sum(axis=1), 1.0, atol=1e-6) or (t < 0).any():
            raise InvalidInputError(f"ForwardFilter: transitions must be a square row-stochastic matrix, got {t!r}")
        if not 0.0 < float(evidence_weight) <= 1.0:
            raise InvalidInputError(f"ForwardFilter: evidence_weight must be in (0, 1], got {evidence_weight!r}")
        n = t.shape[0]
        pi = np.full(n, 1.0 / n) if initial is None else np.asarray(initial, dtype=np.float64)
        if pi.shape != (n,):
            raise InvalidInputError(f"ForwardFilter: initial must have {n} entries, got shape {pi.shape}")
        self.log_t = np.log(np.clip(t, 1e-300, None))
        self.log_pi = np.log(np.clip(pi / pi.sum(), 1e-300, None))
        self.weight = float(evidence_weight)
        self.reset()

    def reset(self) -> None:
        self.log_alpha: NDArray[np.float64] | None = None

    def step(self, likelihood: Any) -> NDArray[np.float64]:
        """Feed one frame's likelihoods (or posteriors); return the filtered posterior P(state | frames so far)."""
        log_lik = self.weight * np.log(np.clip(np.asarray(likelihood, dtype=np.float64), 1e-12, None))
        prior = self.log_pi if self.log_alpha is None else _logsumexp(self.log_alpha[:, None] + self.log_t, axis=0)
        la = prior + log_lik
        self.log_alpha = la - _logsumexp(la, axis=0)
        return np.exp(self.log_alpha)

    def filter(self, likelihoods: Any) -> NDArray[np.float64]:
        """Offline: the filtered posterior after every frame (resets first); same arithmetic as :meth:`step`."""
        self.reset()
        lik = np.asarray(likelihoods, dtype=np.float64)
        return np.stack([self.step(row) for row in lik]) if len(lik) else np.empty((0, self.log_t.shape[0]))


__all__ = ["ForwardFilter", "PSEUDO_COUNT", "fit_transitions"]
