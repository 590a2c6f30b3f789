"""Offline motor-unit decomposition: the teacher that labels HD-EMG for the MO-DCNN.

A convolutive blind-source separation in the CKC / FastICA family (Holobar &
Zazula 2007; Negro et al. 2016): band-pass, extension, whitening, activity-index
initialisation, skew fixed-point iteration with deflation, k-means spike
detection, CKC refinement, peel-off, SIL > 0.9 acceptance, duplicate removal,
and a second search of the residual the accepted units leave.
:mod:`edgeemg.decompose.fastica` says which step follows which paper
(:mod:`~edgeemg.decompose.config` its settings, :mod:`~edgeemg.decompose.whitening`
the signal steps, :mod:`~edgeemg.decompose.residual` the residual pass,
:mod:`~edgeemg.decompose.result` what it returns);
:mod:`edgeemg.decompose.spikes` holds the per-source measures (SIL, PNR).

numpy/scipy only (no torch): it runs wherever the training data lives.

Examples
--------
>>> from edgeemg.data.sim_motor_units import simulate_motor_units
>>> sim = simulate_motor_units(4.0, seed=0, level=0.1)
>>> dec = decompose(sim.emg, sim.fs_hz, DecompositionConfig(extension=6, n_sources=5))
>>> dec.filters.shape[1:]
(6, 64)
"""

from edgeemg.decompose.config import DecompositionConfig
from edgeemg.decompose.fastica import decompose
from edgeemg.decompose.residual import subtract_units, unit_waveforms
from edgeemg.decompose.result import Decomposition
from edgeemg.decompose.spikes import (
    SpikeDetection,
    detect_spikes,
    isi_cov,
    kmeans_1d,
    pulse_to_noise_ratio,
    regular_threshold,
    short_fraction,
    silhouette,
    skipped_fraction,
)
from edgeemg.decompose.whitening import extend, fir_source

__all__ = [
    "Decomposition",
    "DecompositionConfig",
    "SpikeDetection",
    "decompose",
    "detect_spikes",
    "extend",
    "fir_source",
    "isi_cov",
    "kmeans_1d",
    "pulse_to_noise_ratio",
    "regular_threshold",
    "short_fraction",
    "silhouette",
    "skipped_fraction",
    "subtract_units",
    "unit_waveforms",
]
