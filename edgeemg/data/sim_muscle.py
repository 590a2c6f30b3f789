"""Muscle-health simulator: needle-EMG-like signals of normal, myopathic and neurogenic (ALS) muscle.

The record has the shape of PhysioNet's emgdb: one channel at 4 kHz, recorded
with a needle during rest and weak voluntary contraction. Each simulated
person has a pool of motor units within the needle's pickup territory; the
condition and its severity ``s`` (0 = normal, 1 = severe) change the pool the
way the clinical literature describes (seed 002):

* **normal**: 10-16 units, MUAPs 8-12 ms long, 0.2-1.5 mV, mostly tri-phasic;
  orderly recruitment (thresholds spread over the excitation range) with rates
  from ~7 Hz at recruitment to ~20 Hz.
* **myopathy** (fibre loss inside units): MUAPs shorter (x ``1 - 0.5 s``),
  smaller (x ``1 - 0.6 s``) and polyphasic; *early full recruitment*
  (thresholds compressed by ``1 - 0.85 s``), so many small units fire at a weak
  contraction and the pattern looks like interference.
* **ALS / neurogenic** (motor-neuron loss, collateral reinnervation): fewer
  units (x ``1 - 0.75 s``, at least 2), MUAPs larger (x ``1 + 3 s``), longer
  (x ``1 + 0.8 s``), polyphasic and unstable from discharge to discharge; the
  few units fire fast (rates + ``10 s`` Hz); fibrillation potentials (brief
  biphasic spikes firing regularly at 1-15 Hz, also at rest) and fasciculations
  (isolated large discharges at random times).

Severity is drawn in 0.1-1.0 for patients, so mild cases overlap normal
subjects, whose own MUAP sizes, needle position (an overall gain) and noise
vary too. The record alternates rest (1-2.5 s) and weak contraction (4-8 s).

Randomness: ``seed`` and ``subject`` fix the person, condition (balanced over
the classes: consecutive subject indices cycle through the three classes from a
seed-dependent start) and severity; ``session`` gives a new recording of the
same muscle (new discharges, slightly moved needle).
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

CONDITIONS: tuple[str, ...] = ("als", "myopathy", "normal")
RECORD_PREFIX = {"als": "als", "myopathy": "myo", "normal": "nor"}
_N_VARIANTS = 4  # shape variants per unit: discharge-to-discharge MUAP instability


@dataclass(frozen=True)
class MuscleSimulation:
    """A simulated needle-EMG record with its class and per-unit truth.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, 1)
        Microvolts.
    fs_hz : float
    condition : str
        ``"als"``, ``"myopathy"`` or ``"normal"``.
    subject_id : str
        Identity stable across sessions (split by it).
    severity : float
        0 for normal subjects, 0.1-1.0 for patients.
    meta : dict
        Truth for tests and reports: ``muap_amplitude_uv`` and
        ``muap_duration_ms`` per unit, ``discharges`` (list of arrays of sample
        indices per unit), ``mean_rate_hz`` per active unit,
        ``n_fibrillation_sources``, ``n_fasciculations``, ``contraction`` spans.
    """

    emg: NDArray[np.float32]
    fs_hz: float
    condition: str
    subject_id: str
    severity: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.emg.shape[0] / self.fs_hz


def condition_of(subject: int, *, seed: int = 0) -> str:
    """Condition of subject index ``subject`` under ``seed``: any 3 consecutive indices cover all classes."""
    start = int(np.random.default_rng([seed, 0x3C]).integers(3))
    return CONDITIONS[(subject + start) % 3]


def subject_id(seed: int, subject: int) -> str:
    """Stable identity of simulated muscle subject ``subject`` under ``seed``."""
    return f"muscle-seed{seed}-{RECORD_PREFIX[condition_of(subject, seed=seed)]}{subject + 1:02d}"


def _muap(rng: np.random.Generator, amp_uv: float, dur_ms: float, n_sat: int, jitter_ms: float, fs_hz: float,
          sat: NDArray | None = None) -> tuple[NDArray[np.float64], NDArray]:
    """One MUAP: a tri-phasic main spike plus ``n_sat`` satellite phases; peak-to-peak ``amp_uv``."""
    half = 0.5 * dur_ms / 1000.0 * 1.6
    t = np.arange(-half, half + 1.0 / fs_hz, 1.0 / fs_hz)
    sd = dur_ms / 1000.0 / 7.0
    u = t / sd
    y = -(1.0 - u**2) * np.exp(-0.5 * u**2)  # negative-up convention: main spike
    if sat is None:  # (position s, width s, amplitude rel.) of each satellite phase
        sat = np.column_stack([
            rng.uniform(-0.4, 0.6, n_sat) * dur_ms / 1000.0,
            rng.uniform(0.06, 0.14, n_sat) * dur_ms / 1000.0,
            rng.choice([-1.0, 1.0], n_sat) * rng.uniform(0.25, 0.7, n_sat),
        ]) if n_sat else np.zeros((0, 3))
    for pos, w, a in sat:
        p = pos + rng.normal(0.0, jitter_ms / 1000.0)
        v = (t - p) / w
        y = y + a * (-v * np.exp(-0.5 * v**2)) * 1.65
    y *= np.hanning(y.size)
    return amp_uv * y / max(float(np.ptp(y)), 1e-12), sat


@dataclass(frozen=True)
class _Unit:
    amp_uv: float
    dur_ms: float
    n_sat: int
    jitter_ms: float
    threshold: float
    seed_key: int


def _subject_units(seed: int, subject: int, condition: str, severity: float) -> tuple[list[_Unit], dict[str, float]]:
    rng = np.random.default_rng([seed, subject, 0x3C1])
    s = severity
    n_units = int(rng.integers(10, 17))
    amp_med = rng.uniform(350.0, 650.0)
    dur_med = rng.uniform(8.5, 11.5)
    p_poly, n_sat_max, jitter, thr_scale, rate_add, rate_max = 0.1, 2, 0.05, 1.0, 0.0, rng.uniform(18.0, 22.0)
    amp_f = dur_f = 1.0
    if condition == "myopathy":
        amp_f, dur_f = 1.0 - 0.6 * s, 1.0 - 0.5 * s
        p_poly, n_sat_max, jitter, thr_scale = 0.1 + 0.7 * s, 2 + int(round(5 * s)), 0.05 + 0.1 * s, 1.0 - 0.85 * s
        rate_add = 3.0 * s
    elif condition == "als":
        n_units = max(2, int(round(n_units * (1.0 - 0.75 * s))))
        amp_f, dur_f = 1.0 + 3.0 * s, 1.0 + 0.8 * s
        p_poly, n_sat_max, jitter = 0.1 + 0.6 * s, 2 + int(round(5 * s)), 0.05 + 0.6 * s
        rate_add, rate_max = 10.0 * s, rate_max + 15.0 * s
    thresholds = np.sort(0.02 + 0.6 * (np.exp(np.log(30.0) * rng.uniform(0, 1, n_units)) - 1.0) / 29.0) * thr_scale
    units = []
    for k in range(n_units):
        poly = rng.uniform() < p_poly
        units.append(_Unit(
            amp_uv=float(amp_med * amp_f * np.exp(rng.normal(0.0, 0.35))),
            dur_ms=float(np.clip(dur_med * dur_f * np.exp(rng.normal(0.0, 0.15)), 2.0, 30.0)),
            n_sat=int(rng.integers(2, n_sat_max + 1)) if poly else int(rng.integers(0, 2)),
            jitter_ms=float(jitter),
            threshold=float(thresholds[k]),
            seed_key=int(rng.integers(2**31)),
        ))
    fib_sources = int(rng.poisson(4.0 * s)) if condition == "als" and s > 0.15 else 0
    other = {
        "rate_add": rate_add,
        "rate_max": float(rate_max),
        "needle_gain": float(np.exp(rng.normal(0.0, 0.35))),
        "noise_uv": float(rng.uniform(6.0, 18.0)),
        "hum_uv": float(rng.uniform(0.0, 10.0)),
        "far_uv": float(rng.uniform(10.0, 40.0)),
        "fib_sources": fib_sources,
        "fasc_hz": float(rng.uniform(0.1, 0.6) * s) if condition == "als" else 0.0,
    }
    return units, other


def _severity(seed: int, subject: int, condition: str) -> float:
    if condition == "normal":
        return 0.0
    return float(np.random.default_rng([seed, subject, 0x5E7]).uniform(0.1, 1.0))


def _excitation(n: int, fs_hz: float, rng: np.random.Generator) -> tuple[NDArray[np.float64], list[tuple[float, float]]]:
    """Rest / weak-contraction blocks, smoothed, with a slow wobble of force."""
    e = np.zeros(n)
    spans = []
    t = rng.uniform(0.3, 1.0)
    total = n / fs_hz
    while t < total:
        dur = rng.uniform(4.0, 8.0)
        level = rng.uniform(0.15, 0.45)
        a, b = int(t * fs_hz), min(n, int((t + dur) * fs_hz))
        e[a:b] = level
        spans.append((t, min(total, t + dur)))
        t += dur + rng.uniform(1.0, 2.5)
    tt = np.arange(n) / fs_hz
    e *= 1.0 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * tt + rng.uniform(0, 2 * np.pi))
    k = max(1, int(0.3 * fs_hz))
    e = np.convolve(e, np.ones(k) / k, mode="same")
    return e, spans


def _discharges(thr: float, rate_add: float, rate_max: float, e: NDArray, fs_hz: float,
                rng: np.random.Generator) -> NDArray[np.int64]:
    out = []
    n = e.shape[0]
    i = 0
    step = max(1, int(0.01 * fs_hz))
    while i < n:
        ex = e[i]
        if ex < thr:
            i += step
            continue
        rate = min(rate_max, 7.0 + rate_add + 40.0 * (ex - thr))
        out.append(i)
        isi = max(0.02, (1.0 / rate) * (1.0 + 0.15 * rng.standard_normal()))
        i += int(isi * fs_hz)
    return np.asarray(out, dtype=np.int64)


def _add_train(y: NDArray, tmpl: NDArray, idx: NDArray[np.int64]) -> None:
    if idx.size == 0:
        return
    imp = np.zeros(y.shape[0])
    np.add.at(imp, idx, 1.0)
    conv = sps.fftconvolve(imp, tmpl)[tmpl.size // 2 : tmpl.size // 2 + y.shape[0]]
    y += conv


def simulate_muscle(
    seconds: float = 20.0,
    *,
    seed: int = 0,
    session: int = 0,
    subject: int = 0,
    condition: str | None = None,
    fs_hz: float = 4000.0,
) -> MuscleSimulation:
    """Simulate a needle-EMG record of one subject's muscle.

    Parameters
    ----------
    seconds : float
    seed, subject : int
        Fix the person: condition (via :func:`condition_of` unless
        ``condition`` overrides it), severity, motor-unit pool, needle gain, noise.
    session : int
        A new recording of the same muscle.
    condition : {"als", "myopathy", "normal"} or None
        Override the subject's condition (severity is still drawn from the seed).
    fs_hz : float
        emgdb's rate is 4 kHz.

    Raises
    ------
    InvalidInputError
        Bad ``seconds``, ``fs_hz`` or ``condition``.
    """
    if not np.isfinite(seconds) or seconds <= 0:
        raise InvalidInputError(f"seconds must be a finite number > 0, got {seconds!r}")
    if not np.isfinite(fs_hz) or fs_hz < 2000.0:
        raise InvalidInputError(f"fs_hz must be >= 2000 Hz to resolve needle MUAPs, got {fs_hz!r}")
    if condition is not None and condition not in CONDITIONS:
        raise InvalidInputError(f"Invalid value for 'condition'. Allowed values are {CONDITIONS}, got {condition!r}")
    cond = condition or condition_of(subject, seed=seed)
    sev = _severity(seed, subject, cond)
    units, o = _subject_units(seed, subject, cond, sev)
    rng = np.random.default_rng([seed, subject, session, 0x3C2])
    n = int(round(seconds * fs_hz))
    e, spans = _excitation(n, fs_hz, rng)
    gain = o["needle_gain"] * float(np.exp(rng.normal(0.0, 0.1)))  # needle moved a little per session
    y = np.zeros(n)
    discharges, rates = [], []
    for u in units:
        urng = np.random.default_rng([u.seed_key, session])
        idx = _discharges(u.threshold, o["rate_add"], o["rate_max"], e, fs_hz, urng)
        discharges.append(idx)
        if idx.size > 1:
            rates.append(float(fs_hz / np.median(np.diff(idx))))
        trng = np.random.default_rng(u.seed_key)
        base, sat = _muap(trng, u.amp_uv * gain, u.dur_ms, u.n_sat, 0.0, fs_hz)
        which = urng.integers(_N_VARIANTS, size=idx.size)
        for v in range(_N_VARIANTS):
            tmpl, _ = _muap(trng, u.amp_uv * gain, u.dur_ms, u.n_sat, u.jitter_ms, fs_hz, sat=sat)
            _add_train(y, tmpl, idx[which == v])
    # spontaneous activity (ALS): fibrillations fire regularly at rest and during contraction
    for _ in range(o["fib_sources"]):
        amp = rng.uniform(30.0, 200.0) * gain
        fib, _ = _muap(rng, amp, rng.uniform(1.5, 4.0), 0, 0.0, fs_hz)
        rate = rng.uniform(1.0, 15.0)
        t = np.arange(rng.uniform(0, 1.0 / rate), seconds, 1.0 / rate)
        t = t + rng.normal(0.0, 0.01 / rate, t.size)
        _add_train(y, fib, np.clip((t * fs_hz).astype(np.int64), 0, n - 1))
    n_fasc = int(rng.poisson(o["fasc_hz"] * seconds))
    for _ in range(n_fasc):
        u = units[int(rng.integers(len(units)))]
        tmpl, _ = _muap(rng, u.amp_uv * gain, u.dur_ms, u.n_sat, u.jitter_ms, fs_hz)
        _add_train(y, tmpl, np.array([int(rng.integers(n))]))
    # far-field activity of distant units, instrument noise, mains hum
    far = sps.sosfilt(sps.butter(2, [20.0, 300.0], btype="bandpass", fs=fs_hz, output="sos"), rng.standard_normal(n))
    far *= o["far_uv"] / max(float(np.std(far)), 1e-12) * (e / 0.3)
    white = sps.sosfilt(sps.butter(2, [10.0, 0.45 * fs_hz], btype="bandpass", fs=fs_hz, output="sos"),
                        rng.standard_normal(n))
    white *= o["noise_uv"] / max(float(np.std(white)), 1e-12)
    tt = np.arange(n) / fs_hz
    hum = o["hum_uv"] * np.sqrt(2) * np.sin(2 * np.pi * 50.0 * tt + rng.uniform(0, 2 * np.pi))
    emg = (y + far + white + hum)[:, None].astype(np.float32)
    meta = {
        "seed": seed,
        "session": session,
        "subject": subject,
        "muap_amplitude_uv": [u.amp_uv * gain for u in units],
        "muap_duration_ms": [u.dur_ms for u in units],
        "muap_phases_extra": [u.n_sat for u in units],
        "discharges": discharges,
        "mean_rate_hz": rates,
        "n_units": len(units),
        "n_fibrillation_sources": o["fib_sources"],
        "n_fasciculations": n_fasc,
        "contraction": spans,
        "needle_gain": gain,
    }
    return MuscleSimulation(emg=emg, fs_hz=float(fs_hz), condition=cond, subject_id=subject_id(seed, subject),
                            severity=sev, meta=meta)


def band_signal(seconds: float, *, seed: int = 0, session: int = 0) -> BandSignal:
    """Subject 0's needle channel, with a ``class`` TruthEvent at t = 0."""
    sim = simulate_muscle(seconds, seed=seed, session=session)
    return BandSignal(
        emg=sim.emg, fs_hz=sim.fs_hz, layout="needle-1", channel_names=("EMG",),
        events=(TruthEvent(0.0, "class", sim.condition),),
        meta={"subject_id": sim.subject_id, "severity": sim.severity},
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
    """Write one emgdb-style WFDB record per subject (``als01``, ``myo02``, ``nor03``...).

    Defaults: 20 s per record, 12 subjects (4 per class). The class, subject
    id and severity are header comments (``condition: als``); see
    :func:`edgeemg.data.muscle_record.write_muscle_record`. ``snr_db`` is accepted
    for a uniform CLI and ignored: needle noise is part of each subject.
    """
    from tqdm import tqdm

    from edgeemg.data.muscle_record import write_muscle_record

    n_sub = 12 if subjects is None else int(subjects)
    if n_sub < 1:
        raise InvalidInputError(f"subjects must be >= 1, got {subjects!r}")
    if snr_db is not None:
        logger.warning("muscle simulator ignores snr_db=%s: noise is a property of each subject", snr_db)
    secs = 20.0 if seconds is None else float(seconds)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in tqdm(range(n_sub), desc="muscle subjects", unit="subject", disable=not progress):
        sim = simulate_muscle(secs, seed=seed, session=session, subject=i)
        paths.append(write_muscle_record(out / f"{RECORD_PREFIX[sim.condition]}{i + 1:02d}", sim))
    logger.info("wrote %d muscle-health records to %s", len(paths), out)
    return paths
