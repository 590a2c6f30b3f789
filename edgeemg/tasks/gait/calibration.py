"""Per-user calibration of the causal gait decoder's heel-strike and toe-off timing (training host; torch).

Why: on people the model never saw, most of the event timing error is a
constant per person, not noise: where a person's bursts sit relative to their
foot contact depends on their muscles and electrode placement (the simulator
draws it per person as (0.01 + N(0, 0.02)) x stride). The decoder's offsets
fitted on the training people (:func:`~edgeemg.tasks.gait.causal_workflow.fit_event_offsets`)
are the population's; a short walk of the user with foot switches gives the
user's own. :func:`calibrate_checkpoint` decodes that walk with the
checkpoint, sets each event kind's offset to minus the median matched error
there, and returns a checkpoint for that user (export it as any other:
the offsets travel in the bundle's ``decoder`` field, nothing changes on the board).
"""

from __future__ import annotations

from typing import Any

from edgeemg.errors import InvalidInputError
from edgeemg.tasks.checkpoint import Checkpoint
from edgeemg.tasks.gait import spec
from edgeemg.tasks.gait.causal_decoder import CausalConfig

MIN_EVENTS = 20
"""Fewest matched events of each kind a calibration walk must give (about 20 strides, 25 s of walking):
the median of fewer would move the offset by more than it corrects."""


def calibrate_checkpoint(ckpt: Checkpoint, recs: list[Any]) -> tuple[Checkpoint, dict[str, Any]]:
    """The checkpoint with heel-strike / toe-off offsets fitted on ``recs``, one person's calibration walk.

    Returns the calibrated checkpoint (its ``meta["calibration"]`` says what was fitted on what)
    and a report: the offsets before and after (ms) and the walk's event figures before and after
    (fitted on the same walk: to judge a calibration, score another session of the person).

    Raises
    ------
    InvalidInputError
        Not a causal gait checkpoint, recordings of more than one person, or too few events.
    """
    from edgeemg.tasks.gait.causal_workflow import checkpoint_outputs, fit_event_offsets, score

    meta = ckpt.meta
    if ckpt.task != "gait" or meta.get("preset") != "causal":
        raise InvalidInputError(f"calibrate: needs a causal gait checkpoint (`edgeemg train gait`), got task "
                                f"'{ckpt.task}' preset '{meta.get('preset')}'; seed 001's models have no gait events")
    people = sorted({r.subject_id for r in recs})
    if len(people) != 1:
        raise InvalidInputError(f"calibrate: give one person's calibration walk, got recordings of {len(people)} "
                                f"people ({', '.join(people[:4])}); calibrate each user separately")
    rf, hop, fs_hz = int(meta["window"]), int(meta["hop"]), float(meta["fs_hz"])
    outputs = checkpoint_outputs(ckpt, recs)
    before_cfg = CausalConfig.from_dict(meta["decoder"])
    after_cfg = fit_event_offsets(before_cfg, recs, outputs, rf, hop)
    labels = tuple(meta["labels"])
    before = score(recs, outputs, before_cfg, rf, hop, labels)["gait_events"]
    after = score(recs, outputs, after_cfg, rf, hop, labels)["gait_events"]
    short = {k: after[k]["detected"] for k in spec.GAIT_EVENTS if after[k]["detected"] < MIN_EVENTS}
    if short:
        raise InvalidInputError(f"calibrate: the walk gave too few matched events ({short}; need >= {MIN_EVENTS} "
                                "of each): record a longer walk (about 30 s of steady walking)")
    ms = 1000.0 / fs_hz
    offsets = {k: {"before_ms": getattr(before_cfg, f"{k}_offset") * ms,
                   "after_ms": getattr(after_cfg, f"{k}_offset") * ms} for k in spec.GAIT_EVENTS}
    figures = {k: {"before": {f: before[k][f] for f in ("detection_rate", "mae_ms")},
                   "after": {f: after[k][f] for f in ("detection_rate", "mae_ms")}, "events": after[k]["detected"]}
               for k in spec.GAIT_EVENTS}
    report = {"subject": people[0], "seconds": sum(r.emg.shape[0] for r in recs) / fs_hz, "offsets": offsets,
              "calibration_walk": figures}
    new_meta = {**meta, "decoder": after_cfg.to_dict(), "calibration": report}
    return Checkpoint(task=ckpt.task, model=ckpt.model, arrays=ckpt.arrays, meta=new_meta), report


__all__ = ["MIN_EVENTS", "calibrate_checkpoint"]
