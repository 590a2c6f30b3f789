"""Board-side muscle-health decoder: per-segment scores -> a running diagnosis (numpy only).

A single 1 s segment can be ambiguous (a rest segment of a myopathic muscle looks
like a rest segment of a healthy one), while a diagnosis is about the muscle,
not the second. The decoder therefore averages the class probabilities of all
segments seen since :meth:`MuscleDecoder.reset` and reports the running
decision after every segment, with how many segments back it. The mean of
probabilities (not of log-probabilities) is used so that one confidently wrong
segment cannot veto many agreeing ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeemg.errors import DictConfig, InvalidInputError
from edgeemg.tasks.classification import softmax
from edgeemg.tasks.manifest import decoder_settings, manifest_labels
from edgeemg.tasks.muscle_health.spec import LABELS

EMIT_MODES = ("every", "change")


@dataclass(frozen=True)
class DecisionConfig(DictConfig):
    """How the running decision is reported.

    Attributes
    ----------
    emit : str
        ``"every"``: one event per segment; ``"change"``: only when the decided class changes.
    min_segments : int
        Segments to average before the first decision (1 = decide at once).
    outputs : str
        ``"logits"`` (softmax applied here) or ``"probabilities"``.
    """

    emit: str = "every"
    min_segments: int = 1
    outputs: str = "logits"

    def __post_init__(self) -> None:
        if self.emit not in EMIT_MODES:
            raise InvalidInputError(f"DecisionConfig.emit must be one of {EMIT_MODES}, got {self.emit!r}")
        if isinstance(self.min_segments, bool) or not isinstance(self.min_segments, int) or self.min_segments < 1:
            raise InvalidInputError(f"DecisionConfig.min_segments must be an integer >= 1, got {self.min_segments!r}")
        if self.outputs not in ("logits", "probabilities"):
            raise InvalidInputError(f"DecisionConfig.outputs must be 'logits' or 'probabilities', got {self.outputs!r}")


class MuscleDecoder:
    """Running average of class probabilities over segments, with a decision after each.

    Examples
    --------
    >>> dec = MuscleDecoder(("als", "myopathy", "normal"), DecisionConfig(outputs="probabilities"))
    >>> ev = dec.step(np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]]), np.array([4159, 6207]))
    >>> [(e["class"], e["n_segments"]) for e in ev]
    [('myopathy', 1), ('als', 2)]
    """

    def __init__(self, labels: tuple[str, ...] | list[str] = LABELS, config: DecisionConfig | None = None) -> None:
        self.labels = tuple(labels)
        if len(self.labels) < 2:
            raise InvalidInputError(f"MuscleDecoder needs at least 2 labels, got {self.labels}")
        self.config = config or DecisionConfig()
        self.reset()

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> MuscleDecoder:
        """Build from a bundle manifest / checkpoint meta: ``labels`` and optional ``decoder`` dict."""
        labels = manifest_labels(manifest, "MuscleDecoder")
        return cls(labels, DecisionConfig.from_dict(decoder_settings(manifest, outputs=True)))

    def reset(self) -> None:
        """Start a new muscle / recording."""
        self._sum = np.zeros(len(self.labels))
        self.n_segments = 0
        self.decision: int | None = None

    @property
    def probabilities(self) -> np.ndarray:
        """Mean class probabilities so far (uniform before any segment)."""
        if self.n_segments == 0:
            return np.full(len(self.labels), 1.0 / len(self.labels))
        return self._sum / self.n_segments

    def _event(self, end_index: int | None, final: bool = False) -> dict[str, Any]:
        p = self.probabilities
        c = int(np.argmax(p))
        ev = {
            "class": self.labels[c],
            "probability": float(p[c]),
            "probabilities": {name: float(v) for name, v in zip(self.labels, p)},
            "n_segments": self.n_segments,
            "end_index": end_index,
        }
        if final:
            ev["final"] = True
        return ev

    def step(self, outputs: Any, end_index: Any) -> list[dict[str, Any]]:
        """Add segments' outputs (n_segments, n_labels); return the running-decision events they cause."""
        out = np.asarray(outputs, dtype=np.float64)
        if out.ndim != 2 or out.shape[1] != len(self.labels):
            raise InvalidInputError(
                f"MuscleDecoder.step: outputs must be (n_segments, {len(self.labels)}), got shape {out.shape}"
            )
        idx = np.asarray(end_index).reshape(-1)
        if idx.shape[0] != out.shape[0]:
            raise InvalidInputError(
                f"MuscleDecoder.step: end_index must have one entry per segment ({out.shape[0]}), got {idx.shape[0]}"
            )
        probs = softmax(out, axis=1) if self.config.outputs == "logits" else out
        events = []
        for p, e in zip(probs, idx):
            self._sum += p
            self.n_segments += 1
            if self.n_segments < self.config.min_segments:
                continue
            c = int(np.argmax(self.probabilities))
            if self.config.emit == "every" or c != self.decision:
                events.append(self._event(int(e)))
            self.decision = c
        return events

    def finish(self) -> list[dict[str, Any]]:
        """End of recording: one final event with the overall decision (none if no segment arrived)."""
        return [self._event(None, final=True)] if self.n_segments else []
