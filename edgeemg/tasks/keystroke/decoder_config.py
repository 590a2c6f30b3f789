"""How CTC emissions become characters: the keystroke decoder's configuration (numpy only, board side).

Kept apart from :mod:`edgeemg.tasks.keystroke.decoder` so that training, export
and the report can name a decoding without the decoder's search code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgeemg.errors import DictConfig, InvalidInputError

DECODERS = ("greedy", "beam")


@dataclass(frozen=True)
class DecoderConfig(DictConfig):
    """How emissions become characters (all fields JSON-able; stored in checkpoints and manifests).

    Attributes
    ----------
    kind : str
        ``"greedy"`` or ``"beam"``.
    beam_size : int
        Prefixes kept after each frame.
    max_labels_per_frame : int
        Only the most probable non-blank classes of a frame extend prefixes.
    label_threshold : float
        ... and only those with a log-probability above this (nats): a frame where
        the blank has 0.9999 costs one blank update per prefix and nothing else.
    lm_weight : float
        Shallow-fusion weight of the LM's natural-log probability (0: no LM).
    insertion_bonus : float
        Added (nats) for every character the LM scores.
    score_beam : float
        Prefixes scoring more than this (nats) below the best are dropped even when
        the beam has room: they would almost never win, and keeping them stops the
        prefixes from agreeing, which is what makes characters final.
    max_delay_frames : int or None
        Force-commit the best prefix's characters this many frames after they
        entered it (None: only when all prefixes agree).
    """

    kind: str = "beam"
    beam_size: int = 16
    max_labels_per_frame: int = 8
    label_threshold: float = -10.0
    lm_weight: float = 0.8
    insertion_bonus: float = 1.0
    score_beam: float = 10.0
    max_delay_frames: int | None = 8

    def __post_init__(self) -> None:
        if self.kind not in DECODERS:
            raise InvalidInputError(f"DecoderConfig.kind must be one of {DECODERS}, got {self.kind!r}")
        for name in ("beam_size", "max_labels_per_frame"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidInputError(f"DecoderConfig.{name} must be an integer >= 1, got {v!r}")
        if self.max_delay_frames is not None and (not isinstance(self.max_delay_frames, int)
                                                  or self.max_delay_frames < 1):
            raise InvalidInputError(f"DecoderConfig.max_delay_frames must be None or an integer >= 1, "
                                    f"got {self.max_delay_frames!r}")
        if not math.isfinite(self.lm_weight) or self.lm_weight < 0:
            raise InvalidInputError(f"DecoderConfig.lm_weight must be finite and >= 0, got {self.lm_weight!r}")


__all__ = ["DECODERS", "DecoderConfig"]
