"""Board-side gait decoders: seed 001's per-window smoother here, the causal decoder re-exported.

:class:`CausalGaitDecoder` (the default model's: HMM-filtered states plus heel
strikes and toe-offs) lives in :mod:`edgeemg.tasks.gait.causal_decoder` and is
imported here because a bundle names its decoder as ``edgeemg.tasks.<task>.decoder:Class``.
Below: the seed preset's per-window class scores -> smoothed state-change events.

numpy only (the runtime imports this on a board without torch or scikit-learn).

A window-by-window argmax flickers: near a transition, or on a noisy step, the
classifier alternates between neighbouring states for a few windows, and a
prosthesis controller that obeys every flip is worse than one that waits a
little. The smoother here is *causal* (it only sees past windows), so what it
costs is a fixed, documented delay and nothing else:

``majority`` (default)
    The emitted state changes to ``s`` once ``s`` holds a strict majority of the
    last ``votes`` argmax decisions. After a clean step change the new state is
    emitted ``votes // 2`` windows after the first window that shows it: with the
    default ``votes=3`` and a 100 ms hop that is **1 window = 100 ms** added
    latency (:meth:`SmootherConfig.added_latency_windows`).
``hmm``
    A forward filter over the four states with a sticky transition matrix
    (``stay_probability`` on the diagonal) using the model's posteriors as scaled
    likelihoods. Its delay depends on how confident the model is, so it has no
    closed form; ``edgeemg eval`` measures it on the evaluation data.
``none``
    Raw argmax, zero added latency (for comparison).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import DictConfig, InvalidInputError
from edgeemg.tasks.classification import softmax
from edgeemg.tasks.gait.causal_decoder import CausalGaitDecoder
from edgeemg.tasks.gait.spec import HOP_S, LABELS
from edgeemg.tasks.manifest import decoder_settings, manifest_labels

SMOOTHERS = ("majority", "hmm", "none")
__all__ = ["CausalGaitDecoder", "GaitDecoder", "SMOOTHERS", "SmootherConfig", "count_changes", "transition_delays"]


@dataclass(frozen=True)
class SmootherConfig(DictConfig):
    """How the gait decoder smooths per-window decisions.

    Attributes
    ----------
    kind : str
        ``"majority"``, ``"hmm"`` or ``"none"`` (see the module docstring).
    votes : int
        Majority-vote length in windows (odd keeps ties impossible for two states).
    stay_probability : float
        HMM: probability of staying in the same state from one window to the next.
    hop_s : float
        Seconds between windows; only used to express the latency in ms.
    outputs : str
        ``"logits"`` (softmax applied here) or ``"probabilities"`` (used as given).
    """

    kind: str = "majority"
    votes: int = 3
    stay_probability: float = 0.97  # states last ~3 s = 30 windows: 1 - 1/30
    hop_s: float = HOP_S
    outputs: str = "logits"

    def __post_init__(self) -> None:
        if self.kind not in SMOOTHERS:
            raise InvalidInputError(f"SmootherConfig.kind must be one of {SMOOTHERS}, got {self.kind!r}")
        if isinstance(self.votes, bool) or not isinstance(self.votes, int) or self.votes < 1:
            raise InvalidInputError(f"SmootherConfig.votes must be an integer >= 1, got {self.votes!r}")
        if not 0.0 < float(self.stay_probability) < 1.0:
            raise InvalidInputError(
                f"SmootherConfig.stay_probability must be in (0, 1), got {self.stay_probability!r}"
            )
        if not float(self.hop_s) > 0:
            raise InvalidInputError(f"SmootherConfig.hop_s must be > 0 seconds, got {self.hop_s!r}")
        if self.outputs not in ("logits", "probabilities"):
            raise InvalidInputError(
                f"SmootherConfig.outputs must be 'logits' or 'probabilities', got {self.outputs!r}"
            )

    def added_latency_windows(self) -> int | None:
        """Windows between the first window showing a clean state change and its emission (None: data-dependent)."""
        return {"majority": self.votes // 2, "none": 0}.get(self.kind)

    def added_latency_ms(self) -> float | None:
        w = self.added_latency_windows()
        return None if w is None else 1000.0 * w * self.hop_s


class GaitDecoder:
    """Streaming gait-state decoder with a causal smoother.

    Parameters
    ----------
    labels : sequence of str
        State names in the model's output order.
    config : SmootherConfig

    Examples
    --------
    >>> dec = GaitDecoder(("stand", "walk"), SmootherConfig(votes=3, outputs="probabilities"))
    >>> p = np.array([[1, 0], [0, 1], [0, 1]], float)
    >>> [e["state"] for e in dec.step(p, np.array([399, 599, 799]))]
    ['stand', 'walk']
    """

    def __init__(self, labels: tuple[str, ...] | list[str] = LABELS, config: SmootherConfig | None = None) -> None:
        self.labels = tuple(labels)
        if len(self.labels) < 2:
            raise InvalidInputError(f"GaitDecoder needs at least 2 labels, got {self.labels}")
        self.config = config or SmootherConfig()
        k = len(self.labels)
        p = self.config.stay_probability
        self._log_trans = np.log(np.full((k, k), (1 - p) / (k - 1)) + np.eye(k) * (p - (1 - p) / (k - 1)))
        self.reset()

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> GaitDecoder:
        """Build from a bundle manifest / checkpoint meta: ``labels`` and optional ``decoder`` dict."""
        labels = manifest_labels(manifest, "GaitDecoder")
        return cls(labels, SmootherConfig.from_dict(decoder_settings(manifest, outputs=True)))

    def reset(self) -> None:
        """Forget all history (a new recording or a reconnected band)."""
        self.current: int | None = None
        self._votes: deque[int] = deque(maxlen=self.config.votes)
        self._probs: deque[np.ndarray] = deque(maxlen=self.config.votes)
        self._log_alpha: np.ndarray | None = None

    def _posteriors(self, outputs: Any) -> NDArray[np.float64]:
        out = np.asarray(outputs, dtype=np.float64)
        if out.ndim != 2 or out.shape[1] != len(self.labels):
            raise InvalidInputError(
                f"GaitDecoder.step: outputs must be (n_windows, {len(self.labels)}), got shape {out.shape}"
            )
        if self.config.outputs == "logits":
            return softmax(out, axis=1)
        return out

    def _update(self, p: np.ndarray) -> tuple[int, float]:
        """Feed one window's posterior; return (smoothed state, its confidence)."""
        kind = self.config.kind
        if kind == "none":
            s = int(np.argmax(p))
            return s, float(p[s])
        if kind == "majority":
            self._votes.append(int(np.argmax(p)))
            self._probs.append(p)
            counts = np.bincount(np.asarray(self._votes), minlength=len(self.labels))
            leader = int(np.argmax(counts))
            if self.current is None or counts[leader] * 2 > len(self._votes):
                s = leader
            else:
                s = self.current
            return s, float(np.mean([q[s] for q in self._probs]))
        # hmm forward filter in the log domain
        log_p = np.log(np.clip(p, 1e-12, None))
        if self._log_alpha is None:
            la = log_p - math.log(len(self.labels))
        else:
            prev = self._log_alpha[:, None] + self._log_trans
            m = prev.max(axis=0)
            la = m + np.log(np.exp(prev - m).sum(axis=0)) + log_p
        la = la - (la.max() + math.log(np.exp(la - la.max()).sum()))
        self._log_alpha = la
        s = int(np.argmax(la))
        return s, float(math.exp(la[s]))

    def step(self, outputs: Any, end_index: Any) -> list[dict[str, Any]]:
        """Consume the model outputs of consecutive windows; return state-change events.

        Parameters
        ----------
        outputs : ndarray, shape (n_windows, n_labels)
            Logits or probabilities per window (``config.outputs`` says which).
        end_index : ndarray of int, shape (n_windows,)
            Absolute sample index of each window's last sample.

        Returns
        -------
        list of dict
            One ``{"state", "probability", "previous", "end_index"}`` per change
            of the smoothed state (the first window always produces one).
        """
        post = self._posteriors(outputs)
        idx = np.asarray(end_index).reshape(-1)
        if idx.shape[0] != post.shape[0]:
            raise InvalidInputError(
                f"GaitDecoder.step: end_index must have one entry per window ({post.shape[0]}), got {idx.shape[0]}"
            )
        events = []
        for p, e in zip(post, idx):
            s, conf = self._update(p)
            if s != self.current:
                events.append(
                    {
                        "state": self.labels[s],
                        "probability": conf,
                        "previous": None if self.current is None else self.labels[self.current],
                        "end_index": int(e),
                    }
                )
                self.current = s
        return events

    def finish(self) -> list[dict[str, Any]]:
        """End of stream: the smoother holds nothing back, so no further event."""
        return []

    def smooth(self, outputs: Any) -> NDArray[np.int64]:
        """Offline helper: the smoothed state after each window (resets first)."""
        self.reset()
        post = self._posteriors(outputs)
        states = np.empty(post.shape[0], np.int64)
        for i, p in enumerate(post):
            s, _ = self._update(p)
            self.current = s
            states[i] = s
        return states


def count_changes(states: Any) -> int:
    """Number of state changes in a per-window state sequence (flicker measure)."""
    s = np.asarray(states)
    return int(np.count_nonzero(s[1:] != s[:-1])) if s.size > 1 else 0


def transition_delays(true_states: Any, emitted_states: Any) -> NDArray[np.int64]:
    """Windows from each true transition until the emitted sequence first shows the new state.

    Only transitions whose new state is eventually emitted before the next true
    transition count (a missed transition has no delay; it shows up in the
    accuracy instead).
    """
    t = np.asarray(true_states)
    e = np.asarray(emitted_states)
    if t.shape != e.shape:
        raise InvalidInputError(f"transition_delays: shapes differ, truth {t.shape} vs emitted {e.shape}")
    starts = np.flatnonzero(t[1:] != t[:-1]) + 1
    ends = np.append(starts[1:], t.size)
    delays = []
    for a, b in zip(starts, ends):
        hit = np.flatnonzero(e[a:b] == t[a])
        if hit.size:
            delays.append(int(hit[0]))
    return np.asarray(delays, dtype=np.int64)
