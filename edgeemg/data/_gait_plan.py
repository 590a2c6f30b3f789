"""Who walks when: a simulated person's gait parameters, the layout of walking bouts, the state labels.

Private helper of :mod:`edgeemg.data.sim_gait` (whose docstring gives the model and
the state definitions); :mod:`edgeemg.data._gait_signals` turns a plan into signals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.gait_states import START, STOP, WALK

SETTLE_S = 0.4  # bout end = last heel strike + this (part of "stop")
STEPS_PER_TRANSITION = 4  # heel strikes that make the "first/last two strides"


@dataclass(frozen=True)
class Subject:
    stride_s: float  # mean stride duration at steady walking
    swing_fraction: float
    amp_uv: NDArray[np.float64]  # (2 legs, 3 muscles) peak-envelope RMS, µV
    shift: NDArray[np.float64]  # (3,) burst timing shift, fraction of stride
    crosstalk: NDArray[np.float64]  # (2, 3, 3) within-leg mixing
    lowpass_hz: NDArray[np.float64]  # (6,) tissue low-pass of each channel
    snr_db: float
    hum_share: float  # fraction of noise power that is mains hum
    apa_s: float  # anticipatory adjustment duration before first toe-off
    apa_gain: float
    start_boost: float  # extra push-off in the first strides
    brake_gain: float  # TA braking / co-contraction in the last strides
    tonic: NDArray[np.float64]  # (3,) standing activity level per muscle
    fs_gain_mv: NDArray[np.float64]  # (2,)
    fs_offset_mv: NDArray[np.float64]  # (2,)


def draw_subject(seed: int, subject: int, snr_db: float | None) -> Subject:
    rng = np.random.default_rng([seed, subject, 0x6A17])
    amp = np.exp(rng.normal(np.log([[120.0, 150.0, 90.0]]), 0.35, size=(2, 3)))
    cross = np.zeros((2, 3, 3))
    for leg in range(2):
        c = rng.uniform(0.03, 0.22, size=(3, 3))
        np.fill_diagonal(c, 1.0)
        cross[leg] = c
    return Subject(
        stride_s=float(rng.uniform(1.0, 1.2)),
        swing_fraction=float(rng.uniform(0.37, 0.41)),
        amp_uv=amp,
        shift=rng.normal(0.0, 0.02, size=3),
        crosstalk=cross,
        lowpass_hz=rng.uniform(180.0, 380.0, size=6),
        snr_db=float(rng.uniform(8.0, 20.0) if snr_db is None else snr_db),
        hum_share=float(rng.uniform(0.1, 0.5)),
        apa_s=float(rng.uniform(0.35, 0.55)),
        apa_gain=float(rng.uniform(0.3, 0.9)),
        start_boost=float(rng.uniform(0.0, 0.35)),
        brake_gain=float(rng.uniform(0.1, 0.5)),
        tonic=rng.uniform([0.01, 0.04, 0.01], [0.06, 0.15, 0.05]),
        fs_gain_mv=rng.uniform(1500.0, 4000.0, size=2),
        fs_offset_mv=rng.uniform(50.0, 400.0, size=2),
    )


@dataclass(frozen=True)
class Bout:
    onset_s: float
    hs_s: NDArray[np.float64]  # all heel strikes, alternating feet
    feet: NDArray[np.int8]  # foot of each heel strike
    to_s: NDArray[np.float64]  # toe-off preceding each heel strike (same foot)
    stride_s: float

    @property
    def end_s(self) -> float:
        return float(self.hs_s[-1]) + SETTLE_S


def plan_bouts(seconds: float, subj: Subject, rng: np.random.Generator) -> list[Bout]:
    """Lay out bouts of walking separated by standing until ``seconds`` is covered."""
    bouts: list[Bout] = []
    t = rng.uniform(1.5, 4.0)
    while t < seconds:
        n = int(rng.integers(10, 25))
        stride = subj.stride_s * rng.uniform(0.95, 1.05)
        half = stride / 2.0
        factors = np.ones(n)
        factors[1:4] = [1.30, 1.15, 1.06]
        factors[n - 3 :] *= [1.06, 1.15, 1.30]
        drift = 1.0 + 0.05 * np.sin(2 * np.pi * np.arange(n) / rng.uniform(8, 16) + rng.uniform(0, 2 * np.pi))
        periods = half * factors * drift * (1.0 + rng.normal(0.0, 0.025, n))
        onset = t
        apa = subj.apa_s * rng.uniform(0.85, 1.15)
        swing = subj.swing_fraction * stride
        hs = np.empty(n)
        hs[0] = onset + apa + swing * 1.1
        hs[1:] = hs[0] + np.cumsum(periods[1:])
        to = np.empty(n)
        to[0] = onset + apa
        for k in range(1, n):
            local = 2.0 * periods[k]
            # the swinging foot leaves after the other foot has landed (double support)
            to[k] = max(hs[k] - subj.swing_fraction * local, hs[k - 1] + 0.06 * local)
        lead = int(rng.integers(2))
        feet = ((np.arange(n) + lead) % 2).astype(np.int8)
        bouts.append(Bout(onset_s=onset, hs_s=hs, feet=feet, to_s=to, stride_s=stride))
        t = bouts[-1].end_s + rng.uniform(2.0, 5.0)
    return bouts


def label_states(bouts: list[Bout], n: int, fs_hz: float) -> NDArray[np.int8]:
    states = np.zeros(n, dtype=np.int8)

    def span(a: float, b: float, value: int) -> None:
        states[max(0, int(round(a * fs_hz))) : max(0, min(n, int(round(b * fs_hz))))] = value

    k = STEPS_PER_TRANSITION
    for b in bouts:
        span(b.onset_s, b.hs_s[k - 1], START)
        span(b.hs_s[k - 1], b.hs_s[-k], WALK)
        span(b.hs_s[-k], b.end_s, STOP)
    return states
