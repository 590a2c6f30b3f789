"""Generic, then personal: the training recipe of a many-user model and of its per-user fine-tune.

emg2qwerty's best personal models start from a generic one trained on ~100
users (6.95 % vs 9.55 % CER from scratch). Here:

* **Generic** (``train --simulate --users N``): the sessions of all users are
  turned into one canonical band frame (:mod:`.alignment`; the reference
  profile is stored in the checkpoint), then trained with band-rotation
  augmentation of +-1 electrode on top of the CPU settings, for the residual
  turn alignment leaves (fractional angles, a session's own shift).
* **Fine-tune** (``train --init GENERIC.ckpt``): the generic model is turned to
  the user's band from the profile of their training sessions (no labels
  needed), then every layer trains on their sessions with the CPU schedule at
  a lower peak learning rate (:data:`FINETUNE_LR`) so the start is not thrown
  away in the first steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.tasks.keystroke.alignment import align_sessions, band_profile, fit_reference
from edgeemg.tasks.keystroke.protocol import TrainingData

GENERIC_ROTATION = (-1, 0, 1)
"""Band-rotation offsets (electrodes) drawn per example when training a generic model."""
GENERIC_SESSIONS_PER_USER = 1
"""``train --simulate --users N`` without a plan: one session of each user (``N`` x 120 s of typing on a CPU);
more users, not more sessions of each, is what a model for new people needs."""
FINETUNE_LR = 1e-3
"""Peak learning rate of a fine-tune (the CPU schedule from scratch peaks at 3e-3)."""


def recipe(base: Any, *, generic: bool, finetune: bool) -> Any:
    """``base`` (a :class:`~.training.TrainConfig`) adjusted for a generic run or a fine-tune."""
    if generic:
        base = dataclasses.replace(base, rotation_offsets=GENERIC_ROTATION)
    if finetune:
        base = dataclasses.replace(base, lr=min(base.lr, FINETUNE_LR))
    return base


def canonical_training_data(data: TrainingData) -> tuple[TrainingData, NDArray[np.float64]]:
    """Training and validation sessions turned into one band frame, and that frame's reference profile.

    The reference is fitted on the training sessions only; the validation
    session (an unseen user) is turned by its own unlabeled profile, as an
    unseen user is at evaluation.
    """
    reference = fit_reference([band_profile(s.x) for s in data.train])
    aligned = dataclasses.replace(data, train=align_sessions(data.train, reference),
                                  val=align_sessions(data.val, reference),
                                  description=f"{data.description}; bands turned to one frame")
    return aligned, reference


__all__ = ["FINETUNE_LR", "GENERIC_ROTATION", "GENERIC_SESSIONS_PER_USER", "canonical_training_data", "recipe"]
