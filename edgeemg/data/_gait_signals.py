"""The signals of a planned walk: muscle activation envelopes, sEMG with crosstalk and noise, foot switches.

Private helper of :mod:`edgeemg.data.sim_gait` (whose docstring gives the model);
the plan comes from :mod:`edgeemg.data._gait_plan`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import signal as sps

from edgeemg.data._gait_plan import STEPS_PER_TRANSITION, Bout, Subject, draw_subject, label_states, plan_bouts
from edgeemg.data.gait_states import STAND

_TA, _GL, _VL = 0, 1, 2
# foot-switch levels (fraction of the subject's full-contact level): heel only,
# flat foot, forefoot only; swing is 0. Like a basographic signal, each phase
# of foot contact has its own plateau.
_FS_HEEL, _FS_FLAT, _FS_FORE = 0.4, 1.0, 0.7


def add_bump(env: NDArray[np.float64], t0: float, sd: float, amp: float, fs_hz: float) -> None:
    """Add a Gaussian burst ``amp * exp(-(t - t0)^2 / 2 sd^2)`` to ``env`` (in place)."""
    n = env.shape[0]
    lo, hi = max(0, int((t0 - 4 * sd) * fs_hz)), min(n, int((t0 + 4 * sd) * fs_hz) + 1)
    if hi <= lo:
        return
    t = np.arange(lo, hi) / fs_hz
    env[lo:hi] += amp * np.exp(-0.5 * ((t - t0) / sd) ** 2)


def envelopes(
    bouts: list[Bout], states: NDArray[np.int8], subj: Subject, rng: np.random.Generator, fs_hz: float
) -> NDArray[np.float64]:
    """Activation envelopes, shape (n_samples, 2 legs, 3 muscles), 1.0 ~ a typical burst."""
    n = states.shape[0]
    env = np.zeros((n, 2, 3))
    sh = subj.shift
    for b in bouts:
        L = b.stride_s
        bout_gain = np.exp(rng.normal(0.0, 0.1, size=(2, 3)))
        n_hs = b.hs_s.shape[0]
        last_of_foot = {int(f): int(np.flatnonzero(b.feet == f)[-1]) for f in (0, 1)}
        # anticipatory postural adjustment: bilateral TA burst before the first toe-off
        for leg in (0, 1):
            add_bump(env[:, leg, _TA], b.onset_s + 0.55 * (b.to_s[0] - b.onset_s), 0.3 * (b.to_s[0] - b.onset_s),
                      subj.apa_gain * bout_gain[leg, _TA], fs_hz)
        for k in range(n_hs):
            leg, h, to = int(b.feet[k]), float(b.hs_s[k]), float(b.to_s[k])
            g = bout_gain[leg] * np.exp(rng.normal(0.0, 0.12, size=3))
            starting = k < STEPS_PER_TRANSITION
            stopping = k >= n_hs - STEPS_PER_TRANSITION
            final = k == last_of_foot[leg]
            ta = g[_TA] * (1.0 + (subj.brake_gain if stopping else 0.0))
            gl = g[_GL] * (1.0 + (subj.start_boost if starting else 0.0)) * (0.7 if stopping else 1.0)
            vl = g[_VL] * (1.0 + 0.5 * subj.brake_gain if stopping else 1.0)
            add_bump(env[:, leg, _TA], h + (0.01 + sh[_TA]) * L, 0.05 * L, ta, fs_hz)  # foot lowering
            add_bump(env[:, leg, _TA], to + 0.07 * L, 0.05 * L, 0.55 * ta, fs_hz)  # toe clearance
            add_bump(env[:, leg, _VL], h + (0.05 + sh[_VL]) * L, 0.06 * L, vl * (0.6 if final else 1.0), fs_hz)
            # push-off in late stance, only if this foot leaves the ground again
            add_bump(env[:, leg, _GL], h + (0.40 + sh[_GL]) * L, 0.07 * L, gl * (0.25 if final else 1.0), fs_hz)
        # stopping: brief co-contraction of both legs to brake and stabilise
        for leg in (0, 1):
            t_cc = float(b.hs_s[-1]) + 0.1
            add_bump(env[:, leg, _GL], t_cc, 0.12, 0.5 * subj.brake_gain * bout_gain[leg, _GL], fs_hz)
            add_bump(env[:, leg, _TA], t_cc, 0.12, 0.5 * subj.brake_gain * bout_gain[leg, _TA], fs_hz)
    # standing: tonic postural activity modulated by slow sway
    t = np.arange(n) / fs_hz
    sway = 1.0 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.15, 0.4) * t + rng.uniform(0, 2 * np.pi))
    stand = sps.lfilter([0.002], [1.0, -0.998], (states == STAND).astype(np.float64))
    stand = np.clip(stand / max(stand.max(), 1e-9), 0.0, 1.0) if n else stand
    env += (stand * sway)[:, None, None] * subj.tonic[None, None, :]
    return env


def band_noise(rng: np.random.Generator, n: int, c: int, lo: float, hi: float | NDArray, fs_hz: float) -> NDArray:
    """Unit-variance Gaussian noise band-limited to [lo, hi] Hz (per-channel hi allowed)."""
    out = np.empty((n, c))
    his = np.broadcast_to(np.asarray(hi, dtype=float), (c,))
    white = rng.standard_normal((n, c))
    for ch in range(c):
        sos = sps.butter(2, [lo, min(his[ch], 0.45 * fs_hz)], btype="bandpass", fs=fs_hz, output="sos")
        y = sps.sosfilt(sos, white[:, ch])
        out[:, ch] = y / max(float(np.std(y)), 1e-12)
    return out


def footswitch_signal(bouts: list[Bout], n: int, subj: Subject, rng: np.random.Generator, fs_hz: float) -> NDArray:
    level = np.full((n, 2), _FS_FLAT)

    def put(foot: int, a: float, b: float, value: float) -> None:
        level[max(0, int(round(a * fs_hz))) : max(0, min(n, int(round(b * fs_hz)))), foot] = value

    for b in bouts:
        L = b.stride_s
        for k in range(b.hs_s.shape[0]):
            foot, h, to = int(b.feet[k]), float(b.hs_s[k]), float(b.to_s[k])
            put(foot, to, h, 0.0)  # swing
            put(foot, h, h + 0.08 * L, _FS_HEEL)
            nxt = np.flatnonzero((b.feet == foot) & (np.arange(b.hs_s.shape[0]) > k))
            if nxt.size:  # forefoot contact from heel-off until the next toe-off
                to_next = float(b.to_s[nxt[0]])
                put(foot, to_next - 0.2 * L, to_next, _FS_FORE)
    fs = subj.fs_offset_mv[None, :] + subj.fs_gain_mv[None, :] * level
    fs += rng.normal(0.0, 0.005, size=(n, 2)) * subj.fs_gain_mv[None, :]
    # a switch amplifier's own ~3 ms smoothing
    k = max(1, int(0.003 * fs_hz))
    fs = sps.lfilter(np.ones(k) / k, [1.0], fs, axis=0)
    fs[: k - 1] = fs[k - 1] if n >= k else fs[: k - 1]
    return fs


@dataclass(frozen=True)
class Parts:
    clean_uv: NDArray[np.float64]  # (n, 6) muscle signal incl. crosstalk
    noise_uv: NDArray[np.float64]  # (n, 6) amplifier noise + hum + artefacts
    footswitch: NDArray[np.float64]
    states: NDArray[np.int8]
    bouts: list[Bout]
    subj: Subject


def synthesize(seconds: float, seed: int, session: int, subject: int, snr_db: float | None, fs_hz: float) -> Parts:
    """Build the signal and its parts; tests use the parts to measure SNR independently."""
    subj = draw_subject(seed, subject, snr_db)
    rng = np.random.default_rng([seed, subject, session, 0x6A17])
    n = int(round(seconds * fs_hz))
    bouts = [b for b in plan_bouts(seconds, subj, rng) if b.onset_s < seconds]
    states = label_states(bouts, n, fs_hz)
    env = envelopes(bouts, states, subj, rng, fs_hz)  # (n, 2, 3)
    carrier = band_noise(rng, n, 6, 20.0, subj.lowpass_hz, fs_hz).reshape(n, 2, 3)
    # session: electrodes re-applied -> amplitudes shift a little
    sess_gain = np.exp(rng.normal(0.0, 0.08, size=(2, 3)))
    muscles = env * carrier * (subj.amp_uv * sess_gain)[None]
    clean = np.einsum("nlm,lcm->nlc", muscles, subj.crosstalk).reshape(n, 6)
    # noise: band-limited amplifier noise, mains hum (50 Hz + 150 Hz), heel-strike artefacts
    sig_p = np.mean(clean**2, axis=0) if n else np.ones(6)
    noise_p = sig_p / 10.0 ** (subj.snr_db / 10.0)
    t = np.arange(n) / fs_hz
    phase = rng.uniform(0, 2 * np.pi, size=6)
    hum = np.sin(2 * np.pi * 50.0 * t[:, None] + phase) + 0.3 * np.sin(2 * np.pi * 150.0 * t[:, None] + 3 * phase)
    hum /= max(float(np.sqrt(np.mean(hum**2))), 1e-12) if n else 1.0
    art = np.zeros((n, 6))
    for b in bouts:
        for k in range(b.hs_s.shape[0]):
            leg = int(b.feet[k])
            i0 = int(b.hs_s[k] * fs_hz)
            m = min(n - i0, int(0.06 * fs_hz))
            if i0 < 0 or m <= 0:
                continue
            tt = np.arange(m) / fs_hz
            shape = np.sin(2 * np.pi * 12.0 * tt) * np.exp(-tt / 0.02)
            art[i0 : i0 + m, 3 * leg : 3 * leg + 3] += shape[:, None] * rng.normal(0.0, 1.0, size=3)
    art_rms = np.sqrt(np.mean(art**2, axis=0)) if n else np.ones(6)
    art = art / np.where(art_rms > 0, art_rms, 1.0)
    amp_noise = band_noise(rng, n, 6, 10.0, 500.0, fs_hz)
    art_share = 0.05
    amp_share = 1.0 - subj.hum_share - art_share
    noise = np.sqrt(noise_p) * (np.sqrt(amp_share) * amp_noise + np.sqrt(subj.hum_share) * hum
                                + np.sqrt(art_share) * art * (art_rms > 0))
    # rescale so the measured noise power is exactly the requested one
    meas = np.mean(noise**2, axis=0) if n else np.ones(6)
    noise *= np.sqrt(noise_p / np.where(meas > 0, meas, 1.0))
    fsw = footswitch_signal(bouts, n, subj, rng, fs_hz)
    return Parts(clean_uv=clean, noise_uv=noise, footswitch=fsw, states=states, bouts=bouts, subj=subj)
