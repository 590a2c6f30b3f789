"""Muscle side of the keystroke simulator: the subject's motor-unit pools and the spikes of each press.

:func:`make_subject` draws everything a simulated user's ``seed`` fixes (unit
pools per finger and compartment, their places in the wrist, thresholds, sizes,
and each key's drive of each unit); :func:`burst_spikes` turns one planned
press into motor-unit spike times and :func:`tonic_spikes` adds postural
background units. :mod:`edgeemg.data._ks_electrodes` turns spikes into
electrode signals; :mod:`edgeemg.data.sim_keystroke` documents the physiology.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data._ks_typing import _PHYS, _PHYS_NAMES, _Press

if TYPE_CHECKING:
    from edgeemg.data.sim_keystroke import KeystrokeSimConfig


@dataclass(frozen=True)
class Subject:
    """Everything ``seed`` fixes. Arrays are per hand (index 0 left, 1 right)."""

    iki_mean_s: float
    key_speed: NDArray[np.float64]  # (n_phys,) interval factor per key
    key_rise_pow: NDArray[np.float64]  # (n_phys,) ramp shape exponent
    key_decay_s: NDArray[np.float64]  # (n_phys,)
    typo_rate: float
    hold_s: float
    hum_hz: float
    radius_mm: float
    band_angle: NDArray[np.float64]  # (2,) rad
    unit_finger: tuple[NDArray[np.int64], NDArray[np.int64]]
    unit_kind: tuple[NDArray[np.int64], NDArray[np.int64]]  # 0 flexor, 1 extensor, 2 tonic
    unit_theta: tuple[NDArray[np.float64], NDArray[np.float64]]
    unit_depth: tuple[NDArray[np.float64], NDArray[np.float64]]
    unit_thr: tuple[NDArray[np.float64], NDArray[np.float64]]
    unit_amp: tuple[NDArray[np.float64], NDArray[np.float64]]
    unit_sigma_ms: tuple[NDArray[np.float64], NDArray[np.float64]]
    weights: tuple[NDArray[np.float64], NDArray[np.float64]]  # (n_phys, n_units) drive per key


def make_subject(seed: int, cfg: KeystrokeSimConfig) -> Subject:
    rng = np.random.default_rng([seed, 0x5B1])
    n_phys = len(_PHYS_NAMES)
    # flexor sector on the palm side (angle ~pi), extensors on the back (~0); finger order across it
    flex_centre = np.pi + np.array([-0.95, -0.45, -0.1, 0.25, 0.6]) + rng.normal(0, 0.12, 5)
    ext_centre = np.array([-0.8, -0.35, 0.0, 0.35, 0.7]) + rng.normal(0, 0.12, 5)
    per_hand: dict[str, list[Any]] = {k: [] for k in ("finger", "kind", "theta", "depth", "thr", "amp", "sig", "w")}
    for hand in range(2):
        mirror = 1.0 if hand == 0 else -1.0
        finger, kind, theta, depth, psi = [], [], [], [], []
        for f in range(5):
            for k, n in ((0, cfg.units_flexor), (1, cfg.units_extensor)):
                n = max(1, n // 2) if f == 0 else n
                centre = flex_centre[f] if k == 0 else ext_centre[f]
                finger += [f] * n
                kind += [k] * n
                theta += list(mirror * (centre + rng.normal(0, 0.28, n)))
                depth += list(rng.uniform(3.0, 13.0, n))
                psi += list(rng.uniform(0, 2 * np.pi, n))
        for _ in range(cfg.units_tonic):
            finger.append(-1)
            kind.append(2)
            theta.append(rng.uniform(0, 2 * np.pi))
            depth.append(rng.uniform(5.0, 14.0))
            psi.append(0.0)
        fa, ka = np.array(finger), np.array(kind)
        n_u = fa.size
        thr = np.sort(rng.exponential(0.25, n_u))  # many low-threshold, few high-threshold units
        thr = np.clip(rng.permutation(thr), 0.02, 0.85)
        amp = 50.0 * np.exp(1.2 * thr / 0.85) * rng.lognormal(0, 0.3, n_u)  # uV at the nearest electrode
        amp[ka == 2] *= 0.5
        sig = 0.5 + 0.11 * np.array(depth) + rng.normal(0, 0.1, n_u)  # ms: deeper -> wider
        # drive of each unit by each physical key
        w = np.zeros((n_phys, n_u))
        psi_a = np.array(psi)
        for i, name in enumerate(_PHYS_NAMES):
            pk = _PHYS[name]
            if pk.hand != hand:
                continue
            reach = np.array([pk.dcol, pk.drow], dtype=float)
            mag = np.tanh(np.hypot(*reach))
            ang = math.atan2(reach[1], reach[0])
            tuning = 0.55 + 0.45 * mag * np.cos(ang - psi_a)
            dist = np.abs(fa - pk.finger)
            enslave = np.where(dist == 0, 1.0, np.where(dist == 1, 0.3, 0.0))
            enslave[(fa == 0) != (pk.finger == 0)] = 0.0  # the thumb moves on its own
            pattern = np.exp(rng.normal(0, cfg.key_pattern_sd, n_u))
            wi = tuning * enslave * pattern
            wi[ka == 2] = 0.0
            w[i] = np.clip(wi, 0.0, 1.5)
        for k, v in zip(("finger", "kind", "theta", "depth", "thr", "amp", "sig", "w"),
                        (fa, ka, np.array(theta), np.array(depth), thr, amp, sig, w), strict=True):  # fmt: skip
            per_hand[k].append(v)
    iki_lo, iki_hi = cfg.iki_mean_range_s
    return Subject(
        iki_mean_s=float(rng.uniform(iki_lo, iki_hi)),
        key_speed=rng.lognormal(0, 0.12, n_phys),
        key_rise_pow=rng.uniform(1.0, 3.0, n_phys),
        key_decay_s=rng.uniform(0.02, 0.05, n_phys),
        typo_rate=float(rng.uniform(*cfg.typo_rate_range)),
        hold_s=float(cfg.hold_mean_s * rng.lognormal(0, 0.15)),
        hum_hz=float(rng.choice([50.0, 60.0])),
        radius_mm=float(rng.uniform(24.0, 30.0)),
        band_angle=rng.uniform(0, 2 * np.pi, 2),
        unit_finger=tuple(per_hand["finger"]),
        unit_kind=tuple(per_hand["kind"]),
        unit_theta=tuple(per_hand["theta"]),
        unit_depth=tuple(per_hand["depth"]),
        unit_thr=tuple(per_hand["thr"]),
        unit_amp=tuple(per_hand["amp"]),
        unit_sigma_ms=tuple(per_hand["sig"]),
        weights=tuple(per_hand["w"]),
    )  # type: ignore[arg-type]



def burst_spikes(
    subj: Subject, cfg: KeystrokeSimConfig, p: _Press, rng: np.random.Generator, fs_hz: float
) -> tuple[NDArray[np.int64], NDArray[np.int64], float]:
    """Spike samples and units of one press (flexor burst + release extensors); and its burst end."""
    hand = _PHYS[_PHYS_NAMES[p.phys]].hand
    w = subj.weights[hand][p.phys]
    kind = subj.unit_kind[hand]
    decay = subj.key_decay_s[p.phys]
    end = p.press + decay
    t0 = p.onset
    t1 = max(end, p.release + 0.04)
    tt = np.arange(int(t0 * fs_hz), int(np.ceil(t1 * fs_hz)) + 1) / fs_hz
    rise = np.clip((tt - t0) / (p.press - t0), 0, 1) ** subj.key_rise_pow[p.phys]
    fall = np.clip(1 - (tt - p.press) / decay, 0, 1)
    env_f = np.where(tt <= p.press, rise, np.maximum(fall, p.sustain * (tt <= p.release)))
    env_e = 0.6 * np.exp(-0.5 * ((tt - (p.release - 0.01)) / 0.015) ** 2)
    lift = cfg.lift_gain * max(0.0, -float(_PHYS[_PHYS_NAMES[p.phys]].drow))  # top row 1x, number row 2x
    env_e = env_e + lift * np.exp(-0.5 * ((tt - (t0 + 0.012)) / 0.012) ** 2)  # the finger is lifted, then strikes
    gain = rng.lognormal(0, cfg.press_gain_sigma)
    active = np.flatnonzero(w > 0.02)
    # common drive: a pool's units share most of their input, so the press-to-press variability is mostly
    # that of each finger's flexor and extensor compartment, and a little each unit's own
    pool = rng.lognormal(0, cfg.compartment_gain_sigma, (6, 2))  # (finger or -1 tonic, flexor / extensor)
    jitter = pool[subj.unit_finger[hand][active], np.minimum(kind[active], 1)]
    jitter = jitter * rng.lognormal(0, cfg.unit_jitter_sigma, active.size)
    env = np.where((kind[active] == 0)[:, None], env_f[None, :], env_e[None, :])
    drive = np.clip(gain * (w[active] * jitter)[:, None] * env, 0, 1.5)  # (A, L)
    thr = subj.unit_thr[hand][active][:, None]
    rate = np.where(drive > thr, 8.0 + 32.0 * np.clip((drive - thr) / (1.0 - thr), 0, 1), 0.0)
    phase = rng.uniform(0, 1, (active.size, 1)) + np.cumsum(rate, axis=1) / fs_hz
    fired = np.diff(np.floor(phase), axis=1, prepend=np.floor(phase[:, :1])) > 0
    ai, si = np.nonzero(fired)
    jit = rng.normal(0, 0.15 / np.maximum(rate[ai, si], 8.0)) * fs_hz  # ISI CV ~0.15
    samples = np.round(tt[si] * fs_hz + jit).astype(np.int64)
    # never before the onset: the onset is the truth the decoder is timed against
    samples = np.maximum(samples, int(np.ceil(t0 * fs_hz)))
    return samples, active[ai].astype(np.int64), float(end)


def tonic_spikes(subj: Subject, hand: int, n: int, rng: np.random.Generator, fs_hz: float) -> tuple:
    units = np.flatnonzero(subj.unit_kind[hand] == 2)
    ss, uu = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for u in units:
        rate = rng.uniform(8.0, 11.0)
        k = int(n / fs_hz * rate * 1.3) + 4
        isi = rng.gamma(44.0, 1.0 / (44.0 * rate), k)  # CV 0.15
        st = np.cumsum(isi) - rng.uniform(0, 1 / rate)
        st = st[(st >= 0) & (st < n / fs_hz)]
        ss.append(np.round(st * fs_hz).astype(np.int64))
        uu.append(np.full(st.size, u, dtype=np.int64))
    return np.concatenate(ss), np.concatenate(uu)
