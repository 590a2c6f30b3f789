"""Generic, then personal: the training recipe of a many-user model and of its per-user fine-tune.

emg2qwerty's best personal models start from a generic one trained on ~100
users (6.95 % vs 9.55 % CER from scratch). Here:

* **Generic** (``train --simulate --users N``): the sessions of all users are
  turned into one canonical band frame (:mod:`.alignment`; the reference
  profile is stored in the checkpoint), then trained with band-rotation
  augmentation of +-1 electrode on top of the CPU settings, for the residual
  turn alignment leaves (fractional angles, a session's own shift).
* **Fine-tune** (``train --init GENERIC.ckpt``): the generic model is turned to
  the user's band (the profile of their training sessions proposes each band's
  best four turns, the LM check on one session's greedy text picks:
  :func:`lm_check`; no labels read), then every layer trains on their sessions
  with the CPU schedule for :data:`FINETUNE_EPOCHS` epochs, at the key-time
  frames the generic model was trained with (:func:`recipe`).
  :class:`~.anchor.StartAnchor` can hold the start (frozen layers, L2-SP), off
  by default (:data:`FINETUNE`). The checkpoint's ``meta["init"]`` records the
  turn (``band_shift``, the checked ``band_turn``) and the recipe.

Measured (small TDS, key-time frames 6-9, user 0, 12 x 120 s, the 40-user generic
model; greedy / beam + LM CER pooled over the later sessions 13-16, ~2,500
characters, beam settings tuned on the validation session; one-thread CPU s):
from scratch at the CLI default (22 epochs) 23.7 / 18.8 % in 978 s, 10 epochs
24.7 / 21.0 % in 444 s; this recipe (10 epochs, peak 3e-3, LM-checked turn)
**21.8 / 18.5 %** in 460 s: 2.9 / 2.5 pp better at equal time, the scratch
default's accuracy in half its time. The earlier recipe (peak 1e-3, all 22
epochs) lost its 4-epoch lead (14 epochs: greedy 25.6 % in 619 s): not the
early stopping (per-epoch test CER follows validation within ~1 pp) but the
rate (peak 3e-3 with the same start: greedy 22.6 % in 498 s); the checked
turn ([12, 5] where the profile said [11, 6]) added 0.8 pp greedy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.charset import ENTER
from edgeemg.tasks.keystroke.alignment import align_sessions, band_profile, fit_reference
from edgeemg.tasks.keystroke.protocol import TrainingData

GENERIC_ROTATION = (-1, 0, 1)
"""Band-rotation offsets (electrodes) drawn per example when training a generic model."""
GENERIC_SESSIONS_PER_USER = 1
"""``train --simulate --users N`` without a plan: one session of each user (``N`` x 120 s of typing): 20 users
trained in 1033 one-thread CPU s (14 epochs). More sessions per user were not tried."""
FINETUNE_LR = 3e-3
"""Peak learning rate of a fine-tune: the CPU schedule's own. 1e-3 (meant to keep the start) left the 14-epoch
fine-tune at greedy CER 25.6 % (sessions 13-16) where 3e-3 reached 22.6 % in 10 epochs (both with the profile's
turn; module docstring)."""
FINETUNE_EPOCHS = 10
"""A fine-tune's epochs (from scratch: 22). Its validation CER was 18.0 % at epoch 10 (from scratch, 22.2 % at
epoch 11 and 16.6 % at 20 of 22), 460 one-thread CPU s: the start saves half the budget."""
FINETUNE: dict[str, Any] = {"lr": FINETUNE_LR, "epochs": FINETUNE_EPOCHS}
"""What ``train --init`` changes in the CPU settings; :class:`~.anchor.StartAnchor` stays off. Measured (user 0,
frames 6-9, the 6-9 generic model): L2-SP 5 with the front end frozen for the first epoch held the model at its
start (training loss flat at 7.5-7.6 over epochs 2-4, validation CER 31.7, 33.4, 32.2, 33.0 %), where without them
the loss fell 7.7 -> 5.1 and validation 27.6, 25.7, 25.1, 22.2 % (4-epoch schedule, peak 1e-3), so that run was
stopped; weaker strengths are not measured."""
DECODER_GRID = {"lm_weight": (0.3, 0.5, 0.8), "insertion_bonus": (0.0, 0.5, 1.0)}
"""Beam + LM settings :func:`tune_decoder` tries (the defaults are 0.8 / 1.0)."""


def recipe(base: Any, *, generic: bool, finetune: bool, start: dict[str, Any] | None = None) -> Any:
    """``base`` (a :class:`~.training.TrainConfig`) adjusted for a generic run or a fine-tune.

    A fine-tune keeps the key-time frames ``start`` (the init checkpoint's
    training settings) was trained with: the generic model already emits each
    key that long after its press, and that delay is the bundle's character
    latency, so the user's run does not re-learn (or silently change) it.
    """
    if generic:
        base = dataclasses.replace(base, rotation_offsets=GENERIC_ROTATION)
    if finetune:
        frames = (start or {}).get("key_ce_frames")
        base = dataclasses.replace(base, **FINETUNE, **({"key_ce_frames": tuple(frames)} if frames else {}))
    return base


def finetune_record(config: Any) -> dict[str, Any]:
    """What :func:`recipe` set in a fine-tune's ``config`` (the checkpoint's ``meta["init"]["recipe"]``)."""
    return {**{k: getattr(config, k) for k in FINETUNE}, "key_ce_frames": list(config.key_ce_frames)}


def tune_decoder(ckpt: Any, sessions: list[Any], lm: Any, grid: dict[str, tuple[float, ...]] | None = None
                 ) -> tuple[Any, list[dict[str, float]]]:
    """``ckpt`` with the beam + LM decoder settings that decode ``sessions`` best, and every setting's CER.

    Why: the decoder's defaults suit a personal model's confident emissions; a
    generic model's are less sure: on the 20-user model's validation user the
    personal defaults 0.8 / 1.0 decoded 7 pp worse than 0.3 / 0.0 (user 120,
    order-6 built-in LM, greedy 41.8 %: beam + LM 40.8 % at 0.3 / 0.0, 42.0 % at
    0.8 / 0.0, 47.8 % at 0.8 / 1.0). Choose them on the validation
    user (never a test user) with the LM that will decode. A canonical-frame
    model is turned to ``sessions`` first (their own profile: no labels used).
    """
    from edgeemg.tasks.keystroke.alignment import oriented_to
    from edgeemg.tasks.keystroke.decoder import DecoderConfig
    from edgeemg.tasks.keystroke.decoder_tuning import tune_beam
    from edgeemg.tasks.keystroke.workflow import load_model, model_emissions

    em = model_emissions(load_model(oriented_to(ckpt, sessions, lm_check(sessions, lm))[0]), sessions)
    cfg, rows = tune_beam(em, sessions, lm, DecoderConfig.from_dict(ckpt.meta.get("decoder", {})), grid or DECODER_GRID)
    return dataclasses.replace(ckpt, meta={**ckpt.meta, "decoder": cfg.to_dict()}), rows


def lm_pmi(lm: Any, text: str) -> float:
    """Mean over ``text``'s in-vocabulary characters of ``log P_lm(c | history) - log P_lm(c)`` (nats).

    How much more predictable than its letters alone a text reads: a decoder
    that reads the band from the wrong electrodes writes the letters a typist
    uses in an order no language has. ``log P_lm(c)`` is the LM's order-1
    distribution (Kneser-Ney's continuation counts, which stand in for letter
    frequencies). Each ``⏎`` restarts the context.
    """
    unigram = lm.next_log_probs(())
    total, n, hist = 0.0, 0, ""
    for c in text:
        i = lm.symbol_id(c)
        if i is None:
            hist = ""
            continue
        total += lm.log_prob(c, hist) - float(unigram[i])
        n += 1
        hist = "" if c == ENTER else hist + c
    return total / n if n else -math.inf


def lm_check(sessions: list[Any], lm: Any = None) -> Callable[[Any], float]:
    """A ``check`` for :func:`~.alignment.oriented_to`: :func:`lm_pmi` of a turned model's greedy text of ``sessions``.

    Unlabeled typing is enough (no label is read); ``lm`` defaults to the
    built-in order-6 character LM. Measured (the 40-user generic model on
    unseen users 0-3, turned from session 1, scored on session 0, greedy /
    beam + LM CER): user 0 turned [12, 6] where the profile said [11, 7],
    56.3 / 54.5 -> 42.6 / 37.9 %; users 2 and 3 moved one electrode, 45.1 / 39.9
    -> 39.2 / 36.3 and 36.8 / 30.9 -> 35.4 / 29.5 %; user 1 kept its turn; the
    mean 44.3 / 39.7 -> 39.0 / 34.3 %. Seven forward passes over the session
    (~8 one-thread CPU s for 120 s of typing).
    """
    from edgeemg.tasks.keystroke.ctc import greedy_decode
    from edgeemg.tasks.keystroke.decoder_tuning import builtin_lm
    from edgeemg.tasks.keystroke.workflow import load_model, model_emissions

    lm = lm or builtin_lm()

    def check(ckpt: Any) -> float:
        return lm_pmi(lm, "".join(greedy_decode(e) for e in model_emissions(load_model(ckpt), sessions)))

    return check


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


__all__ = ["DECODER_GRID", "FINETUNE", "FINETUNE_EPOCHS", "FINETUNE_LR", "GENERIC_ROTATION",
           "GENERIC_SESSIONS_PER_USER", "canonical_training_data", "finetune_record", "lm_check", "lm_pmi", "recipe",
           "tune_decoder"]
