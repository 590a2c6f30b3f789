"""Muscle side of the keystroke simulator: the subject's motor-unit pools and the spikes of each press.

:func:`make_subject` draws everything a simulated user's ``seed`` fixes (unit
pools per finger compartment and wrist mover, their places in the wrist,
thresholds, sizes, and each key's drive of each unit); :func:`burst_spikes`
turns one planned press into motor-unit spike times and :func:`tonic_spikes`
adds postural background units. :mod:`edgeemg.data._ks_electrodes` turns spikes
into electrode signals.

**What separates keys, physiologically** (issue 15), and how it is modelled:

* *The finger.* Each finger has its own compartment of the extrinsic flexors
  (FDS bellies, FDP slips) and of the extensor digitorum, at different places
  around the forearm (Schieber & Santello 2004, J Appl Physiol; Keen &
  Fuglevand 2004, J Neurophysiol; Leijnse et al. 2008, "Assessment of individual
  finger muscle activity in the extensor digitorum communis by surface EMG": the ED parts have "constant and widely spaced anatomical locations", with
  30-53 % crosstalk between the index and ring parts), smeared by neighbouring
  fingers (enslaving 0.3; Zatsiorsky, Li & Latash 2000, Exp Brain Res). Forearm
  sEMG names an isolated finger movement 90-98 % of the time (Al-Timemy et al.
  2013, IEEE J Biomed Health Inform), and a typed letter 87 % of the time within a
  session, much less across days and people (Eby et al. 2025, Sci Data 12:440).
* *The row.* Reaching above the home row extends the finger at the MCP joint
  (extensor digitorum) before the flexors strike (Kuo et al. 2006, J Biomech):
  top-row keys carry an extensor lift per row reached (``lift_gain``).
* *The wrist.* In free tapping the wrist gives 56 % of the fingertip's vertical
  travel (Dennerlein et al. 2007, J Biomech), and typists reposition the whole
  hand to reach keys (Baker et al. 2007, Clin Biomech: hand/wrist displacement),
  so each key also drives the wrist movers FCR, FCU, ECR and ECU
  (:func:`wrist_drive`): on the striking finger's side, the radial or ulnar pair
  for a sideways reach, the extensors for an upward one. Sideways MCP abduction
  itself is by the interossei, intrinsic muscles the band does not cover.
* *The motor units.* A forearm muscle has on the order of a hundred to a few
  hundred motor units (automated motor-unit number estimates: biceps 113, thenar 228;
  Muscle Nerve 1991, PMID 1745288), so each finger's FDS+FDP
  share is ~50-100 units and its ED share ~25-50: the pools hold 48 flexor,
  24 extensor and 24 units per wrist mover (``units_*``; the thumb half). A
  keystroke is a ballistic contraction, where units discharge at 60-120 Hz
  early in the burst (Desmedt & Godaux 1977, J Physiol): ``peak_rate_hz`` 80.
  With the old 16 / 8 units at <= 40 Hz each unit fired once or twice per
  press, and the few spikes, not the key, set the pattern the band sees.
* *Timing and force* vary press to press; units of one pool share most of
  their synaptic input (De Luca & Erim 1994, Trends Neurosci; Farina & Negro
  2015, Exerc Sport Sci Rev), so the variability is drawn per press for each
  pool (``compartment_gain_sigma``) and only a little per unit
  (``unit_jitter_sigma``).

Difficulty, ``benchmarks/baseline_keystroke.py --seconds 120`` (logistic
regression on the log-spectra around each *true* press; user 0, 2 x 120 s;
key / finger / hand accuracy %; chance 16-17 / 18-20 / 50-53)::

                      in session          next session        other user
    before issue 15   43.9 / 67.4 / 99.5  43.3 / 61.9 / 99.3  24.9 / 31.5 / 96.7
    common drive      45.0 / 68.2 / 98.9  40.8 / 59.3 / 98.0  22.6 / 28.0 / 95.3
    depth, wrist,     67.8 / 89.7 / 100   53.0 / 70.9 / 99.8  13.0 / 32.2 / 98.5
    units, rates

The last row is three changes (the electrodes' depth attenuation in
:mod:`edgeemg.data._ks_electrodes`, the wrist movers, the unit counts and
ballistic rates), with the action potentials scaled (``muap_uv``) so that the
recording's SNR stays that of the old model (3.4 dB over three users): the
band reads keys as well as their physiology allows, not louder. Step by step
(in-session key / finger %, same SNR): depth attenuation 47.5 / 75.7, + wrist
movers 50.7 / 72.8, + ballistic rates 59.4 / 82.1 or + unit counts 62.4 / 86.8,
both 67.8 / 89.7. With no noise at all and isolated presses the old model capped at 61 %:
what capped it was the handful of spikes per press, not the decoder. The
session drop (band shifted, 15 points) and the user drop (another anatomy and
band placement: near chance for a one-user classifier) remain.

The same for user 2 (other user 3), before -> after: 45.5 / 74.5 / 99.0 -> 59.5 / 90.5 / 100 in session,
43.0 / 60.5 / 98.4 -> 56.7 / 80.5 / 100 next session, 19.1 / 21.3 / 90.5 -> 26.9 / 43.7 / 98.1
other user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data._ks_typing import _PHYS, _PHYS_NAMES, _PhysKey, _Press

if TYPE_CHECKING:
    from edgeemg.data.sim_keystroke import KeystrokeSimConfig


# wrist movers (unit "finger" codes 5-8) and where they lie around the wrist (rad; negative = radial side,
# the convention of the finger compartments below): flexors on the palm side (~pi), extensors on the back (~0).
# Their units fire with the press (they move and steady the hand for the strike), not with the release.
WRIST_POOLS = (("FCR", np.pi - 1.35), ("FCU", np.pi + 1.15), ("ECR", -1.3), ("ECU", 1.15))
_FINGER_SIDE = (0.8, 1.0, 0.3, -0.3, -1.0)  # thumb .. little: radial (+) or ulnar (-) side of the hand


def wrist_drive(pk: _PhysKey) -> NDArray[np.float64]:
    """Drive of the four wrist movers (FCR, FCU, ECR, ECU; 0-1) when a touch typist presses key ``pk``.

    Every strike flexes the wrist a little (Dennerlein et al. 2007: in free tapping the
    wrist gives 56 % of the fingertip's vertical travel), on the side of the striking finger;
    reaching up a row (number row: two) lifts the hand with the wrist extensors; reaching
    sideways moves the whole hand (Baker et al. 2007, hand/wrist displacement) with the radial or
    ulnar flexor-extensor pair. For the left hand a column to the right is radial, for the right ulnar.
    """
    side = _FINGER_SIDE[pk.finger]
    radial = pk.dcol if pk.hand == 0 else -pk.dcol
    flex = 0.5 + 0.25 * max(pk.drow, 0)
    ext = 0.35 * max(-pk.drow, 0)
    to_r, to_u = 0.4 * max(radial, 0), 0.4 * max(-radial, 0)
    d = np.array([flex * (1 + side) / 2 + to_r, flex * (1 - side) / 2 + to_u,
                  ext * (1 + side) / 2 + to_r, ext * (1 - side) / 2 + to_u])
    return np.clip(d, 0.0, 1.0)


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
    unit_finger: tuple[NDArray[np.int64], NDArray[np.int64]]  # 0-4 finger, 5-8 wrist mover, -1 tonic
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
                theta += list(mirror * (centre + rng.normal(0, cfg.unit_spread_rad, n)))
                depth += list(rng.uniform(cfg.depth_range_mm[0], cfg.depth_range_mm[1], n))
                psi += list(rng.uniform(0, 2 * np.pi, n))
        for g, (_, centre) in enumerate(WRIST_POOLS):
            n = cfg.units_wrist
            finger += [5 + g] * n
            kind += [0] * n
            theta += list(mirror * (centre + rng.normal(0, cfg.unit_spread_rad, n)))
            depth += list(rng.uniform(cfg.depth_range_mm[0], cfg.depth_range_mm[1], n))
            psi += [0.0] * n
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
        amp = cfg.muap_uv * np.exp(1.2 * thr / 0.85) * rng.lognormal(0, 0.3, n_u)  # uV at 1 reference distance
        amp[ka == 2] *= 0.5
        sig = 0.5 + 0.11 * np.array(depth) + rng.normal(0, 0.1, n_u)  # ms: deeper -> wider
        # drive of each unit by each physical key
        w = np.zeros((n_phys, n_u))
        psi_a = np.array(psi)
        wrist = fa >= 5
        wrist_scale = cfg.wrist_gain * rng.lognormal(0, 0.3, len(WRIST_POOLS))  # users differ in wrist use
        for i, name in enumerate(_PHYS_NAMES):
            pk = _PHYS[name]
            if pk.hand != hand:
                continue
            reach = np.array([pk.dcol, pk.drow], dtype=float)
            mag = np.tanh(np.hypot(*reach))
            ang = math.atan2(reach[1], reach[0])
            tuning = 0.55 + 0.45 * mag * np.cos(ang - psi_a)
            dist = np.where(fa < 5, np.abs(fa - pk.finger), 9)
            enslave = np.where(dist == 0, 1.0, np.where(dist == 1, 0.3, 0.0))
            enslave[(fa == 0) != (pk.finger == 0)] = 0.0  # the thumb moves on its own
            pattern = np.exp(rng.normal(0, cfg.key_pattern_sd, n_u))
            wi = tuning * enslave * pattern
            wi[wrist] = (wrist_scale * wrist_drive(pk))[fa[wrist] - 5] * pattern[wrist]
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
    pool = rng.lognormal(0, cfg.compartment_gain_sigma, (10, 2))  # (finger, wrist mover or -1 tonic; flexor / extensor)
    jitter = pool[subj.unit_finger[hand][active], np.minimum(kind[active], 1)]
    jitter = jitter * rng.lognormal(0, cfg.unit_jitter_sigma, active.size)
    env = np.where((kind[active] == 0)[:, None], env_f[None, :], env_e[None, :])
    drive = np.clip(gain * (w[active] * jitter)[:, None] * env, 0, 1.5)  # (A, L)
    thr = subj.unit_thr[hand][active][:, None]
    rate = np.where(drive > thr, 8.0 + (cfg.peak_rate_hz - 8.0) * np.clip((drive - thr) / (1.0 - thr), 0, 1), 0.0)
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
