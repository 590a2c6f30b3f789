"""What the gait-phase decoder expects and how its input is made (numpy only).

Seed 001 (section 4.1): 20-450 Hz band-pass, per-channel z-score, 200 ms windows
with 50 % overlap, the label of a window being the state at its centre; four
states. The default DSP chain below is the one JSON-able description that
training runs offline through :class:`edgeemg.dsp.Pipeline` and that the bundle
manifest hands to the board, so both see identical arithmetic. The z-score
statistics are fitted on the training subjects only (after the band-pass, which
removes the DC offset the statistics would otherwise chase) and stored in the
checkpoint's description.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.gait_states import GAIT_STATES
from edgeemg.errors import InvalidInputError

LABELS: tuple[str, ...] = GAIT_STATES
"""State names in model-output order (the simulator's and the WFDB reader's codes 0..3)."""

FS_HZ = 2000.0
"""Sample rate of PhysioNet's walking dataset and of the simulator."""

CHANNEL_NAMES: tuple[str, ...] = tuple(f"semg {s} {m}" for s in ("LT", "RT") for m in ("TIB.A", "LAT.G", "VAS.L"))
"""Default channel order (tibialis anterior, gastrocnemius lateralis, vastus lateralis; left then right leg).
A checkpoint stores the order it was trained on; the runtime refuses another."""

WINDOW_S = 0.2
HOP_S = 0.1
BANDPASS_HZ = (20.0, 450.0)
BANDPASS_ORDER = 4
TD_FEATURES: tuple[str, ...] = ("RMS", "WL", "ZC", "WAMP")
"""Seed 001's SVM features (Hudgins' set without MAV)."""

WAMP_THRESHOLD_Z = 0.2
"""WAMP threshold in z-units: the features are computed after the z-score stage, so a
threshold in microvolts would mean a different thing for every subject and channel."""


def window_samples(fs_hz: float) -> tuple[int, int]:
    """(window, hop) in samples at ``fs_hz``: 200 ms and 100 ms rounded to whole samples."""
    if not fs_hz > 0:
        raise InvalidInputError(f"gait spec: fs_hz must be > 0, got {fs_hz!r}")
    return int(round(WINDOW_S * fs_hz)), int(round(HOP_S * fs_hz))


def filter_description() -> list[dict[str, Any]]:
    """The sample-wise filter stages that precede z-scoring (used to fit the statistics)."""
    return [{"stage": "bandpass", "low_hz": BANDPASS_HZ[0], "high_hz": BANDPASS_HZ[1], "order": BANDPASS_ORDER}]


def dsp_description(
    fs_hz: float,
    zscore: dict[str, list[float]],
    *,
    features: bool = False,
) -> list[dict[str, Any]]:
    """The full default chain: band-pass, z-score (fitted stats), 200/100 ms windows [, TD features].

    Parameters
    ----------
    fs_hz : float
    zscore : dict
        ``{"mean": [...], "std": [...]}`` per channel, fitted on training data.
    features : bool
        Append seed 001's time-domain features (the SVM's input) after the windows.
    """
    window, hop = window_samples(fs_hz)
    desc = [*filter_description(), {"stage": "zscore", "mean": list(zscore["mean"]), "std": list(zscore["std"])}]
    desc.append({"stage": "window", "window": window, "hop": hop})
    if features:
        desc.append({"stage": "td_features", "names": list(TD_FEATURES), "wamp_threshold": WAMP_THRESHOLD_Z})
    return desc


def window_labels(states: NDArray[np.integer], end_index: NDArray[np.int64], window: int) -> NDArray[np.int64]:
    """Label of each window = the state of the sample at its centre (offset ``window // 2``).

    ``end_index`` is each window's last sample (what :class:`edgeemg.dsp.Frames`
    carries), so the centre is ``end_index - window + 1 + window // 2``.
    """
    states = np.asarray(states)
    centre = np.asarray(end_index, dtype=np.int64) - window + 1 + window // 2
    if centre.size and (centre.min() < 0 or centre.max() >= states.shape[0]):
        raise InvalidInputError(
            f"window_labels: window centres {int(centre.min())}..{int(centre.max())} fall outside the "
            f"{states.shape[0]} labelled samples"
        )
    return states[centre].astype(np.int64)


# ------------------------------------------------------------------------------ causal decoder (the default)

CAUSAL_HOP_S = 0.02
"""Seconds between decisions of the causal decoder (issue 14: a hop of at most 25 ms)."""

HORIZON_S = 0.1
"""How far ahead of its newest sample a causal decision labels the state (a prediction; 0 labels the newest
sample). EMG leads the movement it causes by >= 120 ms (Guerra 2024), so 100 ms ahead is inside what the
signal can know; eval reports the realised latency against the foot switches, not this number."""

CONTACT_HORIZON_S = -0.05
"""The same for the foot-contact outputs, here a look-back: each frame gives each foot's contact 50 ms before
its newest sample. The bursts that time an event surround it (heel strike: tibialis anterior foot lowering
~10 ms and vastus lateralis loading ~55 ms after; toe-off: the toe-clearance burst ~75 ms after), so a
decision at the newest sample sees only their rising edge. The look-back is algorithmic latency of the
events (the export adds it to the bench total). Measured with ``benchmarks/report_gait.py`` (10 x 600 s,
held-out S1001-S1004, one training each): 0 ms -> 50 ms took toe-offs from 95.8 % / 26.0 ms mean absolute
error to 97.5 % / 21.8 ms and heel strikes from 97.2 % / 21.7 ms to 97.8 % / 21.4 ms, the bench total
from 8.9 to 62.8 ms (budget 80)."""

FOOTS: tuple[str, ...] = ("left", "right")
"""Foot order of the contact outputs and of the simulator's / reader's heel strikes and toe-offs."""

GAIT_EVENTS: tuple[str, ...] = ("heel_strike", "toe_off")


def causal_hop(fs_hz: float) -> int:
    """The causal decoder's hop in samples at ``fs_hz`` (20 ms rounded)."""
    if not fs_hz > 0:
        raise InvalidInputError(f"gait spec: fs_hz must be > 0, got {fs_hz!r}")
    return int(round(CAUSAL_HOP_S * fs_hz))


def causal_dsp_description(zscore: dict[str, list[float]], window: int, hop: int) -> list[dict[str, Any]]:
    """Band-pass, z-score and windows of ``window`` samples every ``hop`` (the model's receptive field)."""
    return [*filter_description(), {"stage": "zscore", "mean": list(zscore["mean"]), "std": list(zscore["std"])},
            {"stage": "window", "window": int(window), "hop": int(hop)}]


def contact_from_events(n_samples: int, heel_strikes: tuple[Any, ...], toe_offs: tuple[Any, ...],
                        fs_hz: float) -> NDArray[np.int8]:
    """Per-sample foot contact, shape (n_samples, 2): 1 on the ground, 0 in swing (from toe-off to heel strike).

    Both feet stand outside walking, so a foot is in swing only between one of
    its toe-offs and the next heel strike of the same foot.
    """
    contact = np.ones((n_samples, 2), np.int8)
    for foot in range(2):
        hs = np.sort(np.asarray(heel_strikes[foot], dtype=np.float64))
        for t_off in np.asarray(toe_offs[foot], dtype=np.float64):
            later = hs[hs > t_off]
            end = later[0] if later.size else n_samples / fs_hz
            contact[max(0, int(round(t_off * fs_hz))) : min(n_samples, int(round(end * fs_hz))), foot] = 0
    return contact


CONTACT_RAMP_S = 0.04
"""Width of the foot-contact training target's ramp (see :func:`frame_targets`); 0: a 0/1 step.

Why: with a step target, the frames on either side of an event are told 0 and 1 whatever the event's
position between them, so the output's 0.5 crossing carries no sub-hop timing; a ramp two hops wide
crosses 0.5 exactly at the event and the decoder's linear interpolation reads it back. 40 ms rather than
0 (``benchmarks/report_gait.py``, 10 x 600 s, held-out S1001-S1004, with the 50 ms look-back and the
20 ms channel-lag augmentation, one training each, so within training-to-training noise): toe-offs
98.3 % / 20.7 ms -> 99.0 % / 18.4 ms, heel strikes 98.9 % / 14.2 ms -> 99.3 % / 17.4 ms."""


def frame_targets(states: NDArray[np.integer], contact: NDArray[np.int8], end_index: NDArray[np.int64],
                  horizon: int, contact_horizon: int, ramp: int = 0) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Training targets of causal frames: the state ``horizon`` and each foot's contact ``contact_horizon``
    samples after each newest sample.

    ``ramp`` > 1: a frame's contact target is the fraction of the ``ramp`` samples centred on its target time
    that the foot is on the ground, so the target crosses 0.5 exactly at the heel strike / toe-off, between
    frames, instead of jumping from 0 to 1 at the first frame after it. Frames whose target time falls past
    the recording's end take its last sample's labels (before its start, a negative ``contact_horizon``:
    the first sample's).
    """
    end = np.asarray(end_index, dtype=np.int64)
    n = states.shape[0]
    ref = np.minimum(end + int(horizon), n - 1)
    ref_c = np.clip(end + int(contact_horizon), 0, n - 1)
    if ramp <= 1:
        return np.asarray(states)[ref].astype(np.int64), contact[ref_c].astype(np.float32)
    lo = np.clip(ref_c - ramp // 2, 0, n - ramp)
    hi = lo + ramp
    csum = np.concatenate([np.zeros((1, contact.shape[1])), np.cumsum(contact, axis=0, dtype=np.float64)])
    return np.asarray(states)[ref].astype(np.int64), ((csum[hi] - csum[lo]) / ramp).astype(np.float32)
