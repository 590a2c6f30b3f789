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

A plain HMM state has a geometric duration, most likely one frame: it cannot
tell a 0.2 s "start" (flicker) from a 2.5 s one (gait initiation).
:func:`fit_duration_hmm` therefore gives each gait state a chain of ``n``
hidden stages (an Erlang duration, the classic expanded-state HMM), ``n`` and
the stay probability fitted to the mean and variance of that state's
durations in the training labels, and the exits between states counted there.
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


MAX_STAGES = 24
"""Most hidden stages per gait state (bounds the forward pass to ~100 states)."""


def durations(sequences: list[Any], n_states: int) -> list[NDArray[np.float64]]:
    """Run lengths (frames) of every state in the sequences, runs cut by a sequence's ends left out."""
    out: list[list[int]] = [[] for _ in range(n_states)]
    for seq in sequences:
        s = np.asarray(seq, dtype=np.int64)
        cuts = np.flatnonzero(s[1:] != s[:-1]) + 1
        for a, b in zip(cuts[:-1], cuts[1:]):
            out[int(s[a])].append(int(b - a))
    return [np.asarray(d, dtype=np.float64) for d in out]


def erlang_stages(d: NDArray[np.float64], max_stages: int = MAX_STAGES) -> tuple[int, float]:
    """(stages n, stay probability p) whose Erlang duration matches the mean and variance of ``d``.

    Moments: mean = n / (1 - p), variance = n p / (1 - p)^2, so n = mean^2 / (variance + mean)
    (at least 1, at most ``max_stages``) and p = 1 - n / mean. With no observed run: one stage, p = 0.99.
    """
    if d.size == 0:
        return 1, 0.99
    mean, var = float(d.mean()), float(d.var())
    n = int(np.clip(round(mean * mean / (var + mean)), 1, max_stages))
    return n, float(np.clip(1.0 - n / mean, 0.0, 1.0 - 1e-6))


def fit_duration_hmm(sequences: list[Any], n_states: int, *, max_stages: int = MAX_STAGES,
                     pseudo_count: float = PSEUDO_COUNT) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Expanded-state transition matrix and the gait state of each hidden stage (module docstring).

    Stage ``k`` of state ``i`` stays with probability ``p_i`` and moves to stage
    ``k + 1`` otherwise; the last stage leaves state ``i`` with probability
    ``1 - p_i``, to state ``j``'s first stage in proportion to the counted
    ``i -> j`` changes (plus ``pseudo_count``).
    """
    exits = fit_transitions(sequences, n_states, pseudo_count=pseudo_count)
    np.fill_diagonal(exits, 0.0)
    exits /= exits.sum(axis=1, keepdims=True)
    stages = [erlang_stages(d, max_stages) for d in durations(sequences, n_states)]
    first = np.cumsum([0] + [n for n, _ in stages])
    groups = np.repeat(np.arange(n_states), [n for n, _ in stages])
    t = np.zeros((len(groups), len(groups)))
    for i, (n, p) in enumerate(stages):
        for k in range(n):
            row = first[i] + k
            t[row, row] = p
            if k + 1 < n:
                t[row, row + 1] = 1.0 - p
            else:
                t[row, first[:-1]] += (1.0 - p) * exits[i]
    return t, groups


class ForwardFilter:
    """Streaming forward pass: ``alpha_t(j) ∝ lik_t(j)^w * sum_i alpha_{t-1}(i) T[i, j]``.

    Parameters
    ----------
    transitions : array (n, n)
        Row-stochastic transition matrix.
    initial : array (n,) or None
        Prior of the first frame over hidden states (None: uniform over classes, on each class's first state).
    evidence_weight : float
        Exponent ``w`` on each frame's likelihood (see the module docstring).
    groups : array (n,) of int or None
        The observed class of each hidden state (expanded-state HMMs): likelihoods
        are given per class and posteriors returned per class. None: one state per class.
    """

    def __init__(self, transitions: Any, initial: Any = None, evidence_weight: float = 1.0,
                 groups: Any = None) -> None:
        t = np.asarray(transitions, dtype=np.float64)
        if t.ndim != 2 or t.shape[0] != t.shape[1] or not np.allclose(t.sum(axis=1), 1.0, atol=1e-6) or (t < 0).any():
            raise InvalidInputError(f"ForwardFilter: transitions must be a square row-stochastic matrix, got {t!r}")
        if not 0.0 < float(evidence_weight) <= 1.0:
            raise InvalidInputError(f"ForwardFilter: evidence_weight must be in (0, 1], got {evidence_weight!r}")
        n = t.shape[0]
        self.groups = np.arange(n) if groups is None else np.asarray(groups, dtype=np.int64)
        if self.groups.shape != (n,) or self.groups.min() < 0:
            raise InvalidInputError(f"ForwardFilter: groups must give a class >= 0 for each of the {n} states of "
                                    f"the transition matrix, got {self.groups.shape[0]} entries (min "
                                    f"{self.groups.min() if self.groups.size else None})")
        self.n_classes = int(self.groups.max()) + 1
        if initial is None:
            pi = np.zeros(n)
            pi[[int(np.flatnonzero(self.groups == c)[0]) for c in np.unique(self.groups)]] = 1.0
        else:
            pi = np.asarray(initial, dtype=np.float64)
        if pi.shape != (n,):
            raise InvalidInputError(f"ForwardFilter: initial must have {n} entries, got shape {pi.shape}")
        self.t = t
        self.pi = pi / pi.sum()
        self.weight = float(evidence_weight)
        self.reset()

    def reset(self) -> None:
        self.alpha: NDArray[np.float64] | None = None

    def step(self, likelihood: Any) -> NDArray[np.float64]:
        """Feed one frame's class likelihoods (or posteriors); return P(class | frames so far).

        Linear domain, renormalised every frame (a matrix-vector product: ~10x faster than the log-domain
        sum over the ~100 x 100 expanded states, and no less exact: likelihoods are clipped at 1e-12 and
        the normalised alpha never underflows).
        """
        lik = np.clip(np.asarray(likelihood, dtype=np.float64), 1e-12, None) ** self.weight
        prior = self.pi if self.alpha is None else self.alpha @ self.t
        a = prior * lik[self.groups]
        self.alpha = a / a.sum()
        return np.bincount(self.groups, weights=self.alpha, minlength=self.n_classes)

    def filter(self, likelihoods: Any) -> NDArray[np.float64]:
        """Offline: the filtered posterior after every frame (resets first); same arithmetic as :meth:`step`."""
        self.reset()
        lik = np.asarray(likelihoods, dtype=np.float64)
        return np.stack([self.step(row) for row in lik]) if len(lik) else np.empty((0, self.n_classes))


__all__ = ["ForwardFilter", "MAX_STAGES", "PSEUDO_COUNT", "durations", "erlang_stages", "fit_duration_hmm",
           "fit_transitions"]
