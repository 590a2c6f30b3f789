"""Electrode side of the keystroke simulator: action potentials on a 16-electrode wrist band, and background.

:func:`muap_templates` gives each motor unit's action potential on each
electrode of a band (shape and gain from its angle and depth in the wrist);
:func:`add_spikes` sums them at the spike times (numba); :func:`background`
adds band-limited noise, amplifier noise, mains hum and baseline drift.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy import signal as sps

from edgeemg._jit import njit

if TYPE_CHECKING:
    from edgeemg.data._ks_muscles import Subject
    from edgeemg.data.sim_keystroke import KeystrokeSimConfig

N_ELECTRODES = 16
MUAP_LEN = 48  # samples at 2 kHz: +-12 ms covers the widest action potential


def muap_templates(subj: Subject, hand: int, band_angle: float, contact: NDArray, fs_hz: float,
                   cfg: KeystrokeSimConfig) -> NDArray:
    """(n_units, MUAP_LEN, 16) action potential of each unit on each electrode, uV.

    The amplitude falls as a power of the distance from the unit to the electrode
    (``cfg.decay_power``; Roeleveld et al. 1997 measured such power laws), relative to
    ``cfg.ref_distance_mm`` (skin and fat over the most superficial units), so deep
    units are small on every electrode as well as spread over many (Fuglevand et al.
    1992: units beyond 10-12 mm add little energy to surface EMG; Barkhaus & Nandedkar
    1994: 42 uV within 10 mm of the skin, 11 uV beyond 20 mm).
    """
    theta, depth = subj.unit_theta[hand], subj.unit_depth[hand]
    r = subj.radius_mm
    e_ang = band_angle + 2 * np.pi * np.arange(N_ELECTRODES) / N_ELECTRODES
    dth = theta[:, None] - e_ang[None, :]
    ru = r - depth[:, None]
    dist = np.sqrt(r**2 + ru**2 - 2 * r * ru * np.cos(dth))  # (U, 16) mm
    near = np.min(dist, axis=1, keepdims=True)
    gain = (cfg.ref_distance_mm / np.maximum(dist, cfg.ref_distance_mm)) ** cfg.decay_power * contact[None, :]
    sharp = np.exp(-(dist - near) / 6.0)  # near electrodes see the sharper, triphasic part
    t = (np.arange(MUAP_LEN) - MUAP_LEN / 2) / fs_hz * 1e3  # ms
    s = subj.unit_sigma_ms[hand][:, None]
    z = t[None, :] / s
    g1 = -z * np.exp(-0.5 * z**2) / 0.607  # first derivative of a Gaussian, peak 1
    g2 = (1 - z**2) * np.exp(-0.5 * z**2)  # second derivative (Mexican hat), peak 1
    amp = subj.unit_amp[hand][:, None, None]
    tmpl = amp * (g1[:, :, None] * (gain * (1 - 0.6 * sharp))[:, None, :]
                  + g2[:, :, None] * (gain * 0.8 * sharp)[:, None, :])  # fmt: skip
    return tmpl.astype(np.float64)


@njit(cache=True)
def add_spikes(x: NDArray, tmpl: NDArray, sample: NDArray, unit: NDArray, offset: int) -> None:  # pragma: no cover
    """x[s - offset : s - offset + L, :] += tmpl[u] for each spike (float64 x, tmpl)."""
    n, nch = x.shape
    length = tmpl.shape[1]
    for i in range(sample.size):
        s0 = sample[i] - offset
        u = unit[i]
        for j in range(length):
            s = s0 + j
            if 0 <= s < n:
                for c in range(nch):
                    x[s, c] += tmpl[u, j, c]




def add_background(emg: NDArray[np.float64], p_signal: float, snr_db: float | None, hum_hz: float,
                   cfg: KeystrokeSimConfig, rng: np.random.Generator, fs_hz: float, seconds: float) -> float:
    """Add the background to ``emg`` (n, 32) in place; return the band-limited noise's power (uV^2).

    Band-limited (20-450 Hz) noise correlated between neighbouring electrodes, scaled
    to ``cfg.noise_uv`` or to ``snr_db`` below ``p_signal``; amplifier noise; mains hum
    at ``hum_hz`` with its third harmonic; a slow baseline drift.
    """
    n = emg.shape[0]
    sos = sps.butter(4, [20.0, 450.0], btype="bandpass", fs=fs_hz, output="sos")
    noise = sps.sosfilt(sos, rng.standard_normal((n + 400, 2 * N_ELECTRODES)), axis=0)[400:]
    noise = noise.reshape(n, 2, N_ELECTRODES)
    noise = 0.5 * noise + 0.25 * (np.roll(noise, 1, axis=2) + np.roll(noise, -1, axis=2))
    noise = noise.reshape(n, 2 * N_ELECTRODES)
    noise *= rng.lognormal(0, 0.15, 2 * N_ELECTRODES) / np.sqrt(np.mean(noise**2, axis=0))
    if snr_db is None:
        noise *= cfg.noise_uv
    else:
        noise *= math.sqrt(p_signal / 10 ** (snr_db / 10) / float(np.mean(noise**2)))
    emg += noise
    emg += cfg.white_uv * rng.standard_normal((n, 2 * N_ELECTRODES))
    t_rel = np.arange(n) / fs_hz
    if cfg.hum_uv > 0:
        amp = cfg.hum_uv * rng.uniform(0.5, 1.5, 2 * N_ELECTRODES)
        ph = rng.uniform(0, 2 * np.pi) + rng.normal(0, 0.2, 2 * N_ELECTRODES)
        w = 2 * np.pi * hum_hz * t_rel[:, None]
        emg += amp * np.sin(w + ph) + 0.3 * amp * np.sin(3 * w + 2 * ph)
    if cfg.drift_uv > 0:
        n_slow = int(seconds * 4) + 2  # AR(1) at 4 Hz, interpolated: content below ~0.5 Hz
        walk = np.zeros((n_slow, 2 * N_ELECTRODES))
        steps = rng.standard_normal((n_slow, 2 * N_ELECTRODES))
        for i in range(1, n_slow):
            walk[i] = 0.95 * walk[i - 1] + steps[i]
        walk *= cfg.drift_uv / np.sqrt(1 / (1 - 0.95**2))
        tslow = np.arange(n_slow) / 4.0
        emg += np.stack([np.interp(t_rel, tslow, walk[:, c]) for c in range(2 * N_ELECTRODES)], axis=1)
    return float(np.mean(noise**2))
