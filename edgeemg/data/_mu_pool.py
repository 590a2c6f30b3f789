"""Motor-unit pool of one simulated subject: anatomy, recruitment and rate coding.

Private helper of :mod:`edgeemg.data.sim_motor_units`. The pool follows
Fuglevand, Winter & Patla (1993, J. Neurophysiol. 70:2470), the model the seed
paper (``004_*``, section 3.1) cites for its simulation:

* recruitment thresholds spread exponentially over a recruitment range of ~30
  (most units recruited at low excitation, the last one at ~60-75 % of maximum);
* rate coding: each unit fires at ``r0`` (~8 pps) at recruitment and its rate
  grows with one gain shared by the whole pool up to its own peak rate, which
  falls from ~40 pps (first-recruited unit) to ~30 pps (last one);
* inter-spike intervals are Gaussian around the current mean interval with a
  coefficient of variation of ~0.15.

Everything here depends on the subject seed only, never on the session, so a
new session of the same subject has the same units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edgeemg._jit import njit

# Seed-stream tags: one independent np.random stream per purpose, so that adding
# a draw to one purpose never changes another's realisation.
STREAM_POOL = 1
STREAM_PLACEMENT = 2
STREAM_DISCHARGES = 3
STREAM_NOISE = 4
STREAM_COMMON_DRIVE = 5

RECRUITMENT_RANGE = 30.0  # ratio of the last to the first recruitment threshold (Fuglevand 1993)
ISI_CV = 0.15  # inter-spike-interval coefficient of variation (seed 004 section 3.1)


@dataclass(frozen=True)
class MotorUnitPool:
    """Anatomy and firing parameters of one subject's motor-unit pool.

    Units are indexed by recruitment rank: unit 0 has the lowest threshold.
    All arrays have shape ``(n_units,)``.

    Attributes
    ----------
    recruitment_thresholds : ndarray of float64
        Excitation (fraction of maximum, 0-1) at which each unit starts firing.
    min_rate_pps, peak_rate_pps : ndarray of float64
        Discharge rate at recruitment and the rate it saturates at, pulses/s.
    rate_gain_pps : float
        Rate increase per unit of excitation above threshold, shared by the pool
        (Fuglevand's single gain), pulses/s per full excitation.
    n_fibres : ndarray of float64
        Innervation number (fibres per unit): sets the MUAP amplitude.
    conduction_velocity_m_s : ndarray of float64
        Muscle-fibre conduction velocity, ~4 +- 0.3 m/s.
    depth_mm : ndarray of float64
        Depth of the unit's territory centre below the skin.
    transverse_mm : ndarray of float64
        Position of the territory centre across the fibres (grid columns axis).
    territory_radius_mm : ndarray of float64
        Radius of the unit's circular territory in the cross-section.
    innervation_zone_mm : ndarray of float64
        Position of the unit's innervation zone along the fibres.
    fibre_left_mm, fibre_right_mm : ndarray of float64
        Fibre semi-lengths from the innervation zone to each tendon.
    iap_length_mm : ndarray of float64
        Spatial scale of the intracellular action potential (Rosenfalck's lambda).
    """

    recruitment_thresholds: NDArray[np.float64]
    min_rate_pps: NDArray[np.float64]
    peak_rate_pps: NDArray[np.float64]
    rate_gain_pps: float
    n_fibres: NDArray[np.float64]
    conduction_velocity_m_s: NDArray[np.float64]
    depth_mm: NDArray[np.float64]
    transverse_mm: NDArray[np.float64]
    territory_radius_mm: NDArray[np.float64]
    innervation_zone_mm: NDArray[np.float64]
    fibre_left_mm: NDArray[np.float64]
    fibre_right_mm: NDArray[np.float64]
    iap_length_mm: NDArray[np.float64]
    fat_mm: float

    @property
    def n_units(self) -> int:
        return int(self.recruitment_thresholds.shape[0])


def make_pool(seed: int, n_units: int) -> MotorUnitPool:
    """Draw one subject's pool from ``seed`` (the subject), independent of session.

    Notes
    -----
    The muscle is a half-ellipse below the grid (25 mm half-width, 18 mm deep)
    under 1 mm of skin and a subject-specific fat layer (2-5 mm): the seed's
    cylinder (10 mm muscle radius, 4 mm fat, 1 mm skin) widened to the 40 mm of a
    13 x 5 grid. Unit territories are placed uniformly in it, so most units are
    deep and small and only a minority stand out above the interference, which
    is what keeps decomposition a realistic problem.
    """
    rng = np.random.default_rng([seed, STREAM_POOL])
    rank = np.arange(n_units) / max(n_units - 1, 1)
    last_threshold = rng.uniform(0.6, 0.75)
    rt = last_threshold * np.exp(np.log(RECRUITMENT_RANGE) * (rank - 1.0))
    rt = np.sort(rt * np.exp(0.03 * rng.standard_normal(n_units)))
    r0 = rng.uniform(7.0, 9.0, n_units)
    first_peak = rng.uniform(38.0, 40.0)
    last_peak = rng.uniform(30.0, 32.0)
    peak = first_peak - (first_peak - last_peak) * (rt - rt[0]) / (rt[-1] - rt[0])
    # One gain for the pool (Fuglevand): the last unit reaches its peak at full excitation.
    gain = (last_peak - r0[-1]) / (1.0 - rt[-1])
    # Size principle: innervation numbers spread ~60-fold in recruitment order (seed: 52-3191).
    n_fibres = 50.0 * np.exp(np.log(60.0) * rank) * np.exp(0.2 * rng.standard_normal(n_units))
    cv = np.clip(4.0 + 0.3 * rng.standard_normal(n_units), 3.2, 4.8)
    fat = rng.uniform(2.0, 5.0)
    # Uniform in a half-ellipse cross-section (half-width 25 mm, depth 18 mm).
    r = np.sqrt(rng.uniform(0.0, 1.0, n_units))
    phi = rng.uniform(0.0, np.pi, n_units)
    transverse = 25.0 * r * np.cos(phi)
    depth = 1.0 + fat + 18.0 * r * np.sin(phi) + 0.5
    # Territory area proportional to fibre count at ~20 fibres/mm^2 within the territory.
    territory = np.clip(np.sqrt(n_fibres / (20.0 * np.pi)), 0.5, 8.0)
    iz_centre = rng.uniform(-12.0, 12.0)
    iz = iz_centre + 4.0 * rng.standard_normal(n_units)
    half = rng.uniform(55.0, 75.0)
    left = half + 8.0 * rng.standard_normal(n_units)
    right = half + 8.0 * rng.standard_normal(n_units)
    lam = rng.uniform(0.9, 1.1, n_units)
    return MotorUnitPool(
        recruitment_thresholds=rt,
        min_rate_pps=r0,
        peak_rate_pps=peak,
        rate_gain_pps=float(gain),
        n_fibres=n_fibres,
        conduction_velocity_m_s=cv,
        depth_mm=depth,
        transverse_mm=transverse,
        territory_radius_mm=territory,
        innervation_zone_mm=iz,
        fibre_left_mm=np.clip(left, 30.0, None),
        fibre_right_mm=np.clip(right, 30.0, None),
        iap_length_mm=lam,
        fat_mm=float(fat),
    )


def trapezoid(n_samples: int, fs_hz: float, level: float, ramp_s: float) -> NDArray[np.float64]:
    """Excitation ramping linearly 0 -> ``level`` over ``ramp_s``, holding, and ramping down.

    The seed's contractions are 5 s up, 15-20 s plateau, 5 s down; ramps longer
    than half the recording are shortened to meet in the middle (a triangle).
    """
    t = np.arange(n_samples) / fs_hz
    duration = n_samples / fs_hz
    ramp = min(ramp_s, duration / 2.0)
    if ramp <= 0:
        return np.full(n_samples, level)
    up = t / ramp
    down = (duration - t) / ramp
    return level * np.clip(np.minimum(up, down), 0.0, 1.0)


def common_drive(n_samples: int, fs_hz: float, cv: float, rng: np.random.Generator,
                 cutoff_hz: float = 2.5) -> NDArray[np.float64]:
    """Relative fluctuation shared by every unit's excitation: low-passed Gaussian noise with SD ``cv``.

    Why: motor neurons of a pool receive mostly common synaptic input, whose
    low frequencies (below a few Hz: De Luca & Erim 1994's "common drive",
    Farina & Negro 2015) are the neural drive that force follows. Without it the
    units fire independently and the smoothed cumulative spike train of a
    plateau is flat up to the ISI noise, so a neural-drive correlation there
    scores noise. Zero-phase 4th-order Butterworth (scipy), rescaled to SD ``cv``.
    """
    if cv == 0.0 or n_samples < 2:
        return np.zeros(n_samples)
    from scipy import signal

    sos = signal.butter(4, cutoff_hz, fs=fs_hz, output="sos")
    pad = int(4 * fs_hz / cutoff_hz)  # filter the noise beyond both ends and crop: no edge transients
    slow = signal.sosfiltfilt(sos, rng.standard_normal(n_samples + 2 * pad), padtype=None)[pad:pad + n_samples]
    return cv * slow / max(float(slow.std()), 1e-12)


@njit(cache=True)
def _discharge_kernel(excitation, fs_hz, thresholds, r0, peak, gain, z, out, counts):  # pragma: no cover - numba
    """Fuglevand discharge times, one unit per outer iteration.

    ``excitation`` float64 (T,); ``z`` float64 (n_units, max_spikes) standard
    normals already clipped; writes sample indices into ``out`` int64
    (n_units, max_spikes) and the number of spikes into ``counts`` int64.
    The next discharge follows the previous one by the mean interval at the
    excitation of the previous discharge, scaled by (1 + cv * z); when the
    excitation has fallen below threshold by then, the unit waits for the next
    sample at or above threshold and fires there (re-recruitment).
    """
    n_samples = excitation.shape[0]
    n_units = thresholds.shape[0]
    max_spikes = out.shape[1]
    for i in range(n_units):
        n = 0
        idx = 0
        t = 0.0
        active = False
        while n < max_spikes:
            if not active:
                while idx < n_samples and excitation[idx] < thresholds[i]:
                    idx += 1
                if idx >= n_samples:
                    break
                t = float(idx)
                active = True
            else:
                idx = int(t + 0.5)
                if idx >= n_samples:
                    break
                if excitation[idx] < thresholds[i]:
                    active = False
                    continue
            out[i, n] = idx
            e = excitation[idx]
            rate = r0[i] + gain * (e - thresholds[i])
            if rate > peak[i]:
                rate = peak[i]
            t = t + fs_hz / rate * (1.0 + z[i, n])
            n += 1
            if int(t + 0.5) <= idx:  # never two discharges on one sample
                t = float(idx + 1)
        counts[i] = n


def discharges(
    pool: MotorUnitPool, excitation: NDArray[np.float64], fs_hz: float, rng: np.random.Generator
) -> tuple[NDArray[np.int64], ...]:
    """Discharge sample indices of every unit of ``pool`` under ``excitation``.

    The Gaussian ISI noise is clipped at +-3 standard deviations (so an interval
    never comes out negative); this lowers the realised CV by ~1 %, below what a
    test can see.
    """
    seconds = excitation.shape[0] / fs_hz
    max_spikes = int(np.ceil(seconds * float(pool.peak_rate_pps.max()) * 1.7)) + 16
    z = ISI_CV * np.clip(rng.standard_normal((pool.n_units, max_spikes)), -3.0, 3.0)
    out = np.zeros((pool.n_units, max_spikes), dtype=np.int64)
    counts = np.zeros(pool.n_units, dtype=np.int64)
    _discharge_kernel(
        np.ascontiguousarray(excitation, dtype=np.float64),
        float(fs_hz),
        pool.recruitment_thresholds,
        pool.min_rate_pps,
        pool.peak_rate_pps,
        float(pool.rate_gain_pps),
        z,
        out,
        counts,
    )
    return tuple(out[i, : counts[i]].copy() for i in range(pool.n_units))
