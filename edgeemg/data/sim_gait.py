"""Gait simulator: lower-limb sEMG and foot switches through stand, start, walk and stop.

The simulated record has the shape of PhysioNet's "surface electromyographic
signals collected during long-lasting ground walking" dataset (seed 001,
section 4.1): sEMG of tibialis anterior (TA), gastrocnemius lateralis (GL) and
vastus lateralis (VL) of both legs at 2 kHz, plus one basographic foot-switch
channel per foot, with PhysioNet channel names (``semg LT TIB.A``,
``baso RT FOOT``, ...).

Model
-----
A session is a sequence of walking *bouts* separated by standing. A bout starts
with an anticipatory postural adjustment (bilateral TA burst), then the leading
foot toes off and the feet alternate heel strikes with a stride of 1.0-1.2 s
(subject-specific), slower over the first and last two strides, drifting in
speed in between (the dataset's eight-shaped path has curves, accelerations and
decelerations). Each muscle's activation envelope is a sum of Gaussian bursts
placed relative to that foot's heel strikes and toe-offs: TA around heel
strike (foot lowering) and in early swing (toe clearance), GL in late stance
(push-off, 35-45 % of the stride), VL at loading response. The envelope
modulates band-limited Gaussian noise (the interference pattern of many motor
units), then crosstalk mixes muscles of the same leg, and amplifier noise,
50 Hz hum and small heel-strike motion artefacts are added at the requested SNR.

Ground truth and its definitions
--------------------------------
``states`` labels every sample: 0 stand, 1 start, 2 walk, 3 stop.

* *start* runs from the bout onset (onset of the anticipatory TA burst, before
  the first toe-off) to the bout's 4th heel strike, i.e. the initiation step
  and the first two strides (four steps).
* *stop* runs from the bout's 4th-last heel strike to the bout end: the last
  heel strike (feet together) plus a 0.4 s settling time, i.e. the last two
  strides (three step intervals) and the settling.
* *walk* is everything in a bout between start and stop; *stand* is outside bouts.

Start and stop are deliberately confusable with walk: they differ in cadence,
in the relative GL / TA amplitudes (acceleration push-off, braking
co-contraction) and by the anticipatory burst, by amounts that vary between
subjects and bouts, so that a per-window RMS classifier is well below a model
that sees the burst pattern inside a 200 ms window.

Randomness: ``seed`` and ``subject`` fix the person (cadence, amplitudes,
electrode placement, crosstalk, noise, foot-switch gains); ``session`` gives a
new walk of the same person. No global RNG is used.
"""

from __future__ import annotations

import logging
import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import signal as sps

from edgeemg.data.recording import BandSignal, TruthEvent
from edgeemg.errors import InvalidInputError

logger = logging.getLogger(__name__)

GAIT_STATES: tuple[str, ...] = ("stand", "start", "walk", "stop")
STAND, START, WALK, STOP = 0, 1, 2, 3
SIDES: tuple[str, ...] = ("LT", "RT")
MUSCLES: tuple[str, ...] = ("TIB.A", "LAT.G", "VAS.L")
CHANNEL_NAMES: tuple[str, ...] = tuple(f"semg {s} {m}" for s in SIDES for m in MUSCLES)
FOOTSWITCH_NAMES: tuple[str, ...] = ("baso LT FOOT", "baso RT FOOT")
SETTLE_S = 0.4  # bout end = last heel strike + this (part of "stop")
STEPS_PER_TRANSITION = 4  # heel strikes that make the "first/last two strides"
_TA, _GL, _VL = 0, 1, 2
# foot-switch levels (fraction of the subject's full-contact level): heel only,
# flat foot, forefoot only; swing is 0. Like a basographic signal, each phase
# of foot contact has its own plateau.
_FS_HEEL, _FS_FLAT, _FS_FORE = 0.4, 1.0, 0.7


@dataclass(frozen=True)
class GaitSimulation:
    """A simulated walking record with its ground truth.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, 6)
        sEMG in microvolts, channels as in ``channel_names``.
    footswitch : ndarray of float32, shape (n_samples, 2)
        Basographic signal of the left and right foot, in millivolts as a
        foot-switch amplifier would write it (swing low, stance plateaus high).
    fs_hz : float
        Sampling rate (Hz).
    channel_names : tuple of str
        PhysioNet-style names of the ``emg`` columns.
    states : ndarray of int8, shape (n_samples,)
        0 stand, 1 start, 2 walk, 3 stop (definitions in the module docstring).
    heel_strikes, toe_offs : tuple of two ndarrays of float64
        Event times in seconds, ``[0]`` left foot, ``[1]`` right foot.
    subject_id : str
        Identity of the simulated person, stable across sessions.
    meta : dict
        Subject parameters (stride, SNR, amplitudes...) for reports.
    """

    emg: NDArray[np.float32]
    footswitch: NDArray[np.float32]
    fs_hz: float
    channel_names: tuple[str, ...]
    states: NDArray[np.int8]
    heel_strikes: tuple[NDArray[np.float64], NDArray[np.float64]]
    toe_offs: tuple[NDArray[np.float64], NDArray[np.float64]]
    subject_id: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.emg.shape[0] / self.fs_hz


@dataclass(frozen=True)
class _Subject:
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


def _subject(seed: int, subject: int, snr_db: float | None) -> _Subject:
    rng = np.random.default_rng([seed, subject, 0x6A17])
    amp = np.exp(rng.normal(np.log([[120.0, 150.0, 90.0]]), 0.35, size=(2, 3)))
    cross = np.zeros((2, 3, 3))
    for leg in range(2):
        c = rng.uniform(0.03, 0.22, size=(3, 3))
        np.fill_diagonal(c, 1.0)
        cross[leg] = c
    return _Subject(
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
class _Bout:
    onset_s: float
    hs_s: NDArray[np.float64]  # all heel strikes, alternating feet
    feet: NDArray[np.int8]  # foot of each heel strike
    to_s: NDArray[np.float64]  # toe-off preceding each heel strike (same foot)
    stride_s: float

    @property
    def end_s(self) -> float:
        return float(self.hs_s[-1]) + SETTLE_S


def _plan(seconds: float, subj: _Subject, rng: np.random.Generator) -> list[_Bout]:
    """Lay out bouts of walking separated by standing until ``seconds`` is covered."""
    bouts: list[_Bout] = []
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
        bouts.append(_Bout(onset_s=onset, hs_s=hs, feet=feet, to_s=to, stride_s=stride))
        t = bouts[-1].end_s + rng.uniform(2.0, 5.0)
    return bouts


def _states(bouts: list[_Bout], n: int, fs_hz: float) -> NDArray[np.int8]:
    states = np.zeros(n, dtype=np.int8)

    def span(a: float, b: float, value: int) -> None:
        states[max(0, int(round(a * fs_hz))) : max(0, min(n, int(round(b * fs_hz))))] = value

    k = STEPS_PER_TRANSITION
    for b in bouts:
        span(b.onset_s, b.hs_s[k - 1], START)
        span(b.hs_s[k - 1], b.hs_s[-k], WALK)
        span(b.hs_s[-k], b.end_s, STOP)
    return states


def _add_bump(env: NDArray[np.float64], t0: float, sd: float, amp: float, fs_hz: float) -> None:
    """Add a Gaussian burst ``amp * exp(-(t - t0)^2 / 2 sd^2)`` to ``env`` (in place)."""
    n = env.shape[0]
    lo, hi = max(0, int((t0 - 4 * sd) * fs_hz)), min(n, int((t0 + 4 * sd) * fs_hz) + 1)
    if hi <= lo:
        return
    t = np.arange(lo, hi) / fs_hz
    env[lo:hi] += amp * np.exp(-0.5 * ((t - t0) / sd) ** 2)


def _envelopes(
    bouts: list[_Bout], states: NDArray[np.int8], subj: _Subject, rng: np.random.Generator, fs_hz: float
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
            _add_bump(env[:, leg, _TA], b.onset_s + 0.55 * (b.to_s[0] - b.onset_s), 0.3 * (b.to_s[0] - b.onset_s),
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
            _add_bump(env[:, leg, _TA], h + (0.01 + sh[_TA]) * L, 0.05 * L, ta, fs_hz)  # foot lowering
            _add_bump(env[:, leg, _TA], to + 0.07 * L, 0.05 * L, 0.55 * ta, fs_hz)  # toe clearance
            _add_bump(env[:, leg, _VL], h + (0.05 + sh[_VL]) * L, 0.06 * L, vl * (0.6 if final else 1.0), fs_hz)
            # push-off in late stance, only if this foot leaves the ground again
            _add_bump(env[:, leg, _GL], h + (0.40 + sh[_GL]) * L, 0.07 * L, gl * (0.25 if final else 1.0), fs_hz)
        # stopping: brief co-contraction of both legs to brake and stabilise
        for leg in (0, 1):
            t_cc = float(b.hs_s[-1]) + 0.1
            _add_bump(env[:, leg, _GL], t_cc, 0.12, 0.5 * subj.brake_gain * bout_gain[leg, _GL], fs_hz)
            _add_bump(env[:, leg, _TA], t_cc, 0.12, 0.5 * subj.brake_gain * bout_gain[leg, _TA], fs_hz)
    # standing: tonic postural activity modulated by slow sway
    t = np.arange(n) / fs_hz
    sway = 1.0 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.15, 0.4) * t + rng.uniform(0, 2 * np.pi))
    stand = sps.lfilter([0.002], [1.0, -0.998], (states == STAND).astype(np.float64))
    stand = np.clip(stand / max(stand.max(), 1e-9), 0.0, 1.0) if n else stand
    env += (stand * sway)[:, None, None] * subj.tonic[None, None, :]
    return env


def _band_noise(rng: np.random.Generator, n: int, c: int, lo: float, hi: float | NDArray, fs_hz: float) -> NDArray:
    """Unit-variance Gaussian noise band-limited to [lo, hi] Hz (per-channel hi allowed)."""
    out = np.empty((n, c))
    his = np.broadcast_to(np.asarray(hi, dtype=float), (c,))
    white = rng.standard_normal((n, c))
    for ch in range(c):
        sos = sps.butter(2, [lo, min(his[ch], 0.45 * fs_hz)], btype="bandpass", fs=fs_hz, output="sos")
        y = sps.sosfilt(sos, white[:, ch])
        out[:, ch] = y / max(float(np.std(y)), 1e-12)
    return out


def _footswitch(bouts: list[_Bout], n: int, subj: _Subject, rng: np.random.Generator, fs_hz: float) -> NDArray:
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
class _Parts:
    clean_uv: NDArray[np.float64]  # (n, 6) muscle signal incl. crosstalk
    noise_uv: NDArray[np.float64]  # (n, 6) amplifier noise + hum + artefacts
    footswitch: NDArray[np.float64]
    states: NDArray[np.int8]
    bouts: list[_Bout]
    subj: _Subject


def _synthesize(seconds: float, seed: int, session: int, subject: int, snr_db: float | None, fs_hz: float) -> _Parts:
    """Build the signal and its parts; tests use the parts to measure SNR independently."""
    subj = _subject(seed, subject, snr_db)
    rng = np.random.default_rng([seed, subject, session, 0x6A17])
    n = int(round(seconds * fs_hz))
    bouts = [b for b in _plan(seconds, subj, rng) if b.onset_s < seconds]
    states = _states(bouts, n, fs_hz)
    env = _envelopes(bouts, states, subj, rng, fs_hz)  # (n, 2, 3)
    carrier = _band_noise(rng, n, 6, 20.0, subj.lowpass_hz, fs_hz).reshape(n, 2, 3)
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
    amp_noise = _band_noise(rng, n, 6, 10.0, 500.0, fs_hz)
    art_share = 0.05
    amp_share = 1.0 - subj.hum_share - art_share
    noise = np.sqrt(noise_p) * (np.sqrt(amp_share) * amp_noise + np.sqrt(subj.hum_share) * hum
                                + np.sqrt(art_share) * art * (art_rms > 0))
    # rescale so the measured noise power is exactly the requested one
    meas = np.mean(noise**2, axis=0) if n else np.ones(6)
    noise *= np.sqrt(noise_p / np.where(meas > 0, meas, 1.0))
    fsw = _footswitch(bouts, n, subj, rng, fs_hz)
    return _Parts(clean_uv=clean, noise_uv=noise, footswitch=fsw, states=states, bouts=bouts, subj=subj)


def _check(seconds: float, fs_hz: float, snr_db: float | None) -> None:
    if not np.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(f"seconds must be a finite number > 0, got {seconds!r}")
    if not np.isfinite(fs_hz) or fs_hz < 1000.0:
        raise InvalidInputError(f"fs_hz must be >= 1000 Hz so the 20-450 Hz sEMG band fits, got {fs_hz!r}")
    if snr_db is not None and not np.isfinite(snr_db):
        raise InvalidInputError(f"snr_db must be finite or None, got {snr_db!r}")


def subject_id(seed: int, subject: int) -> str:
    """Stable identity of simulated gait subject ``subject`` under ``seed``."""
    return f"gait-seed{seed}-S{subject + 1:02d}"


def simulate_gait(
    seconds: float = 120.0,
    *,
    seed: int = 0,
    session: int = 0,
    subject: int = 0,
    snr_db: float | None = None,
    fs_hz: float = 2000.0,
) -> GaitSimulation:
    """Simulate a walking record: 6 sEMG channels, two foot switches, states and gait events.

    Parameters
    ----------
    seconds : float
        Record duration.
    seed : int
        Fixes the population of simulated people; with ``subject`` it fixes one
        person's cadence, amplitudes, electrode placement, crosstalk and noise.
    session : int
        A new walk of the same person (new bout layout, electrodes re-applied).
    subject : int
        Index of the person within the seed's population.
    snr_db : float or None
        Muscle-signal to noise power ratio per channel over the whole record;
        None draws a subject-specific value in 8-20 dB (real recordings differ).
    fs_hz : float
        Sampling rate; the dataset's is 2 kHz.

    Returns
    -------
    GaitSimulation
        Signals and ground truth (see the module docstring for the state definitions).

    Raises
    ------
    InvalidInputError
        If ``seconds``, ``fs_hz`` or ``snr_db`` is out of range.
    """
    _check(seconds, fs_hz, snr_db)
    p = _synthesize(seconds, seed, session, subject, snr_db, fs_hz)
    hs = tuple(np.sort(np.concatenate([b.hs_s[b.feet == f] for b in p.bouts] or [np.empty(0)])) for f in (0, 1))
    to = tuple(np.sort(np.concatenate([b.to_s[b.feet == f] for b in p.bouts] or [np.empty(0)])) for f in (0, 1))
    hs = tuple(h[h < seconds] for h in hs)
    to = tuple(x[x < seconds] for x in to)
    s = p.subj
    meta = {
        "seed": seed,
        "session": session,
        "subject": subject,
        "stride_s": s.stride_s,
        "snr_db": s.snr_db,
        "amplitude_uv": s.amp_uv.round(1).tolist(),
        "n_bouts": len(p.bouts),
        "state_names": GAIT_STATES,
        "start_definition": "bout onset (anticipatory TA burst) to the bout's 4th heel strike",
        "stop_definition": f"bout's 4th-last heel strike to last heel strike + {SETTLE_S} s",
    }
    return GaitSimulation(
        emg=(p.clean_uv + p.noise_uv).astype(np.float32),
        footswitch=p.footswitch.astype(np.float32),
        fs_hz=float(fs_hz),
        channel_names=CHANNEL_NAMES,
        states=p.states,
        heel_strikes=hs,  # type: ignore[arg-type]
        toe_offs=to,  # type: ignore[arg-type]
        subject_id=subject_id(seed, subject),
        meta=meta,
    )


def band_signal(seconds: float, *, seed: int = 0, session: int = 0) -> BandSignal:
    """What a leg band streams: the 6 sEMG channels, with a TruthEvent at each state change.

    ``meta`` also holds the foot-switch events (``heel_strikes`` / ``toe_offs``: seconds, left then
    right foot), so a bench can time decoded transitions and gait events against the foot.
    """
    sim = simulate_gait(seconds, seed=seed, session=session)
    change = np.flatnonzero(np.diff(sim.states)) + 1
    events = tuple(TruthEvent(float(i / sim.fs_hz), "gait_state", GAIT_STATES[sim.states[i]]) for i in change)
    return BandSignal(
        emg=sim.emg,
        fs_hz=sim.fs_hz,
        layout="lowerlimb-2x3",
        channel_names=sim.channel_names,
        events=events,
        meta={"initial_state": GAIT_STATES[int(sim.states[0])] if sim.states.size else "stand", **sim.meta,
              "heel_strikes": [h.tolist() for h in sim.heel_strikes], "toe_offs": [t.tolist() for t in sim.toe_offs]},
    )


def simulate_to_path(
    out: pathlib.Path,
    *,
    seconds: float | None = None,
    seed: int = 0,
    session: int = 0,
    subjects: int | None = None,
    snr_db: float | None = None,
    progress: bool = True,
) -> list[pathlib.Path]:
    """Write one WFDB record per subject (``S01``, ``S02``...) plus its ``.gait`` annotations.

    Defaults: 120 s per record and 10 subjects (enough for an 8:2 subject-wise
    split). See :func:`edgeemg.data.gait_record.write_gait_record` for the format.
    Returns the record paths (without extension).
    """
    from tqdm import tqdm

    from edgeemg.data.gait_record import write_gait_record

    n_sub = 10 if subjects is None else int(subjects)
    if n_sub < 1:
        raise InvalidInputError(f"subjects must be >= 1, got {subjects!r}")
    secs = 120.0 if seconds is None else float(seconds)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in tqdm(range(n_sub), desc="gait subjects", unit="subject", disable=not progress):
        sim = simulate_gait(secs, seed=seed, session=session, subject=i, snr_db=snr_db)
        paths.append(write_gait_record(out / f"S{i + 1:02d}", sim))
    logger.info("wrote %d gait records to %s", len(paths), out)
    return paths
