"""Convolutive blind-source separation of HD-EMG into motor-unit spike trains (the teacher).

The steps and where they come from:

1. **Band-pass 20-500 Hz** (zero phase, offline): removes drift and content
   above surface EMG's band; DEMUSE, used by seed 004, band-passes 20-750 Hz.
2. **Extension** by ``R`` delays, ``x_ext(t) = [x(t), x(t-1), ..., x(t-R+1)]``,
   with ``R * n_channels ~ 1000`` (Holobar & Zazula 2007, IEEE TSP 55:4487;
   Negro et al. 2016, J. Neural Eng. 13:026027): turns the convolutive mixture
   of MUAPs into an (over-determined) instantaneous one.
3. **Centring and whitening** by the eigendecomposition of the extended
   covariance; eigenvalues below the mean of the smaller half are dropped as
   noise (Negro et al. 2016, regularisation of the whitening).
4. **Initialisation at the peak of the activity index** ``||z(t)||^2 =
   x_ext(t)^T C^-1 x_ext(t)`` (Holobar & Zazula 2007): the instants where
   a large MUAP dominates; each used instant is masked so the next source
   starts elsewhere.
5. **Fixed-point iteration** with the skew contrast ``G(s) = s^3 / 3``
   (``g = s^2``) and **deflation** (Gram-Schmidt against every separation
   vector already tried), as the convolutive FastICA of Negro et al. 2016.
6. **Spike detection** on the source's energy ``s|s|`` with a two-cluster
   k-means on peak heights (:mod:`edgeemg.decompose.spikes`).
7. **CKC-style refinement**: the separation vector becomes the mean whitened
   observation at the detected discharges (the CKC estimate ``c^T C^-1 x``,
   Holobar & Zazula 2007), repeated while the ISI coefficient of variation
   falls (Negro et al. 2016, step 5).
8. **Peel-off** (Holobar & Zazula 2007; MUniverse's CBSS): an accepted unit's
   spike-triggered average is subtracted from the whitened data at each of its
   discharges, so later runs cannot converge on it again at another delay of
   its MUAP (deflation against one vector does not stop that); the unit is
   then refined and accepted again on the original data. Measured on a 30 s
   contraction at 30 % (13 x 5 grid): 10 -> 14 true units at sensitivity /
   precision 0.990 / 0.995 (+-0.5 ms); 100 instead of 60 runs found no more.
9. **Acceptance** by silhouette SIL > 0.9 and a minimum number of discharges;
   a train that skips discharges (``max_skipped_fraction``) is split lower,
   where it fires most regularly, when that completes it
   (:func:`~edgeemg.decompose.spikes.regular_threshold`: k-means' midpoint
   drops the lower discharges of a source whose discharge heights spread
   widely); one that stays incomplete keeps its k-means train only while it
   skips at most ``max_incomplete_skipped_fraction``. A source at SIL
   0.85-0.9 (``complete_sil_threshold``) is accepted when its train, split
   lower if need be, neither skips nor holds short intervals
   (:func:`~edgeemg.decompose.spikes.short_fraction`: noise peaks): a
   linear filter built from the true discharges of a unit among many
   reaches only SIL 0.88-0.89 at 50 %, with sensitivity 0.96-0.98 and
   precision 0.99 at the regular split. Then **duplicate removal**: units sharing > 30 % of their discharges
   (+-0.5 ms after removing their lag) keep only the one with the higher SIL
   (Negro et al. 2016; Holobar et al. 2014 for PNR, reported per unit).
10. **Residual pass** (:mod:`edgeemg.decompose.residual`; Holobar & Zazula
    2007's peel-off in the signal): the accepted units' waveforms are
    subtracted from the band-passed EMG at their discharges, and steps 2-9
    run again on the residual, extended and whitened afresh. A unit found
    there is kept only when it is new (step 9's duplicate test against every
    unit already found) and complete: at most ``max_skipped_fraction`` of
    its inter-spike intervals are about twice its period
    (:func:`~edgeemg.decompose.spikes.skipped_fraction`; SIL alone lets
    through residual sources that catch 58-90 % of a unit's discharges),
    after step 9's lower split where that applies.
    Its filter applies to the residual, so decoding new data subtracts the
    earlier passes' units first (:meth:`Decomposition.apply`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from edgeemg.decompose.config import DecompositionConfig
from edgeemg.decompose.result import Decomposition
from edgeemg.decompose.residual import unit_waveforms
from edgeemg.decompose.spikes import (
    SpikeDetection,
    detect_spikes,
    isi_cov,
    pulse_to_noise_ratio,
    regular_threshold,
    short_fraction,
    silhouette,
    skipped_fraction,
)
from edgeemg.decompose.whitening import extend, preprocess, whiten
from edgeemg.errors import InvalidInputError

log = logging.getLogger(__name__)


class _Unit(NamedTuple):
    spikes: NDArray[np.int64]
    sil: float
    pnr_db: float
    filt: NDArray[np.float32]  # (R, C), on the band-passed signal of the pass that found it
    det: SpikeDetection  # its source's peaks and heights, for a lower split
    threshold: float = float("nan")  # the height split that gave ``spikes``; NaN: k-means'


def _fixed_point(z: NDArray[np.float32], w: NDArray[np.float64], basis: NDArray[np.float64] | None,
                 cfg: DecompositionConfig) -> NDArray[np.float64]:
    """FastICA one-unit iteration with the skew contrast, deflated against ``basis`` rows."""
    n = z.shape[0]
    for _ in range(cfg.max_iter):
        s = z @ w.astype(np.float32)
        w_new = (z.T @ (s * s)).astype(np.float64) / n - 2.0 * float(s.mean()) * w
        if basis is not None and basis.shape[0]:
            w_new -= basis.T @ (basis @ w_new)
        norm = np.linalg.norm(w_new)
        if norm == 0.0:
            return w
        w_new /= norm
        done = abs(abs(float(w_new @ w)) - 1.0) < cfg.tol
        w = w_new
        if done:
            break
    return w


def _refine(z: NDArray[np.float32], w: NDArray[np.float64], fs_hz: float, cfg: DecompositionConfig
            ) -> tuple[NDArray[np.float64], NDArray[np.float64], Any]:
    """CKC-style refinement: w <- mean z at the discharges while the ISI CoV falls."""
    s = (z @ w.astype(np.float32)).astype(np.float64)
    if abs(s.min()) > abs(s.max()):  # skew sign: discharges must be positive peaks
        w, s = -w, -s
    det = detect_spikes(s, fs_hz)
    best = (w, s, det, isi_cov(det.spikes))
    for _ in range(cfg.refine_iter):
        if det.spikes.size < 3:
            break
        w_new = z[det.spikes].mean(axis=0).astype(np.float64)
        w_new /= np.linalg.norm(w_new) or 1.0
        s = (z @ w_new.astype(np.float32)).astype(np.float64)
        det = detect_spikes(s, fs_hz)
        cov = isi_cov(det.spikes)
        if not cov < best[3]:
            break
        best = (w_new, s, det, cov)
    return best[0], best[1], best[2]


def _accept(s: NDArray[np.float64], det: SpikeDetection, filt: NDArray[np.float32], fs_hz: float,
            cfg: DecompositionConfig, *, rate_bar: bool = True) -> _Unit | None:
    """The source as a unit, or None.

    Kept when its SIL exceeds ``sil_threshold`` (with its train completed where
    it skips, :func:`_completed`; a train that stays incomplete is kept as
    k-means split it only while it skips at most ``max_incomplete_skipped_fraction``),
    or exceeds ``complete_sil_threshold`` and its train, completed if need be,
    skips no more than ``max_skipped_fraction`` and has at most
    ``max_short_fraction`` of short intervals (noise peaks); and it has
    ``min_spikes`` discharges, a median interval of at most ``max_median_isi_s``
    (unless ``rate_bar`` is off) and, where set, the PNR floor.
    """
    sil = silhouette(det)
    low = cfg.sil_threshold if cfg.complete_sil_threshold is None else min(cfg.sil_threshold,
                                                                           cfg.complete_sil_threshold)
    if not (sil > low and det.spikes.size >= cfg.min_spikes):
        return None
    if (rate_bar and cfg.max_median_isi_s is not None
            and np.median(np.diff(det.spikes)) > cfg.max_median_isi_s * fs_hz):
        return None
    pnr = pulse_to_noise_ratio(s, det.spikes)
    if cfg.min_pnr_db is not None and pnr < cfg.min_pnr_db:
        return None
    unit = _Unit(det.spikes.astype(np.int64), sil, pnr, filt, det)
    done = _completed(unit, cfg)
    if sil > cfg.sil_threshold:
        bar = cfg.max_incomplete_skipped_fraction
        return done or (unit if bar is None or skipped_fraction(unit.spikes) <= bar else None)
    return done if done is not None and short_fraction(done.spikes) <= cfg.max_short_fraction else None


def _peel(z: NDArray[np.float32], spikes: NDArray[np.int64], half: int) -> None:
    """Subtract the spike-triggered average of ``z`` (+-``half`` samples) at every discharge, in place."""
    spikes = spikes[(spikes >= half) & (spikes < z.shape[0] - half)]
    if spikes.size == 0:
        return
    sta = np.zeros((2 * half + 1, z.shape[1]), np.float64)
    for t in spikes:
        sta += z[t - half: t + half + 1]
    sta = (sta / spikes.size).astype(np.float32)
    for t in spikes:
        z[t - half: t + half + 1] -= sta


def _common_fraction(a: NDArray[np.int64], b: NDArray[np.int64], tol: int, max_lag: int) -> float:
    """Fraction (of the larger train) of discharges common to ``a`` and ``b`` after their best lag."""
    from edgeemg.data._mu_baseline import match_spikes

    if a.size == 0 or b.size == 0:
        return 0.0
    diffs = (b[None, :] - a[:, None]).ravel() if a.size * b.size < 4_000_000 else np.zeros(0, np.int64)
    diffs = diffs[np.abs(diffs) <= max_lag]
    if diffs.size == 0:
        return 0.0
    lag = int(np.bincount(diffs + max_lag).argmax()) - max_lag
    return match_spikes(a + lag, b, tol) / max(a.size, b.size)


def _search(x: NDArray[np.float64], fs_hz: float, cfg: DecompositionConfig, progress: bool) -> list[_Unit]:
    """Steps 2-9 on band-passed ``x``: extend, whiten, run ``n_sources`` sources, accept, remove duplicates."""
    n, c = x.shape
    r = cfg.extension_for(c)
    ext = extend(x, r)
    z, wmat = whiten(ext)
    del ext
    log.info("decompose: %d samples, %d channels, extension %d -> %d whitened dimensions", n, c, r, z.shape[1])
    z0 = z.copy() if cfg.peel_off else z  # the data the filters will be applied to
    activity = np.einsum("tk,tk->t", z, z)
    guard = max(r, int(0.005 * fs_hz))
    basis = np.zeros((0, z.shape[1]))
    units: list[_Unit] = []
    used: list[int] = []
    for _ in tqdm(range(cfg.n_sources), desc="decompose", unit="source", file=sys.stderr, disable=not progress):
        t0 = int(np.argmax(activity))
        if activity[t0] <= 0:
            break
        used.append(t0)
        w = z[t0].astype(np.float64)
        if basis.shape[0]:
            w -= basis.T @ (basis @ w)
        w /= np.linalg.norm(w) or 1.0
        w = _fixed_point(z, w, basis, cfg)
        # deflate against this direction whether or not it is accepted (Negro et al. 2016)
        b = w - basis.T @ (basis @ w) if basis.shape[0] else w.copy()
        if np.linalg.norm(b) > 1e-8:
            basis = np.vstack([basis, b / np.linalg.norm(b)])
        w_ref, s, det = _refine(z, w, fs_hz, cfg)
        filt = (wmat.T @ w_ref).reshape(r, c).astype(np.float32)
        # on peeled data a unit's source may catch only some of its discharges: the rate bar waits for z0
        if cfg.peel_off and _accept(s, det, filt, fs_hz, cfg, rate_bar=False) is not None:
            _peel(z, det.spikes, int(round(cfg.peel_off_window_s * fs_hz)))
            activity = np.einsum("tk,tk->t", z, z)
            w_ref, s, det = _refine(z0, w_ref, fs_hz, cfg)
            filt = (wmat.T @ w_ref).reshape(r, c).astype(np.float32)
        for t in used:
            activity[max(0, t - guard): t + guard + 1] = 0.0
        unit = _accept(s, det, filt, fs_hz, cfg)
        if unit is not None:
            units.append(unit)
    kept = _remove_duplicates(units, fs_hz, cfg)
    log.info("decompose: %d sources tried, %d accepted, %d after duplicate removal",
             cfg.n_sources, len(units), len(kept))
    return kept


def _completed(u: _Unit, cfg: DecompositionConfig) -> _Unit | None:
    """``u`` when its train skips few discharges; else its train at the most regular lower split if that one does.

    Only a train that skips is re-split: a complete one, or one that fires
    intermittently (ISI CoV ~1, where regularity says nothing), keeps k-means'.
    """
    if skipped_fraction(u.spikes) <= cfg.max_skipped_fraction:
        return u
    if not cfg.regular_split:
        return None
    thr = regular_threshold(u.det)
    spikes = u.det.peaks[u.det.heights > thr]
    return u._replace(spikes=spikes, threshold=thr) if skipped_fraction(spikes) <= cfg.max_skipped_fraction else None


def _complete_and_new(candidates: list[_Unit], found: list[_Unit], fs_hz: float, cfg: DecompositionConfig
                      ) -> list[_Unit]:
    """Residual-pass units that miss few discharges (once completed) and are none of the units already found."""
    tol = max(1, int(round(cfg.duplicate_tolerance_s * fs_hz)))
    max_lag = max(1, int(round(2 * cfg.residual_window_s * fs_hz)))  # what subtraction left of a unit sits far off
    return [u for u in candidates if skipped_fraction(u.spikes) <= cfg.max_skipped_fraction
            and all(_common_fraction(u.spikes, f.spikes, tol, max_lag) <= cfg.duplicate_fraction for f in found)]


def decompose(
    emg: NDArray[np.floating],
    fs_hz: float,
    config: DecompositionConfig | None = None,
    *,
    progress: bool = False,
) -> Decomposition:
    """Decompose HD-EMG into motor-unit spike trains (see the module docstring for the steps).

    Parameters
    ----------
    emg : ndarray of float32, shape (n_samples, n_channels)
        Monopolar (or differential) HD-EMG in microvolts, at least 1 s.
    fs_hz : float
        Sampling rate (2048 Hz for the seed's grid).
    config : DecompositionConfig, optional
    progress : bool
        Show a tqdm bar (stderr) over the sources tried.

    Returns
    -------
    Decomposition
        Accepted, de-duplicated units with their SIL, PNR, separation filters,
        the pass that found each and the waveforms the later passes subtracted.

    Raises
    ------
    InvalidInputError
        ``emg`` not 2-D floating, non-finite, or shorter than 1 s.

    Notes
    -----
    Cost: the whitened extended signal is held in memory as float32,
    ``n_samples * K * 4`` bytes (K <= R * n_channels, ~1000), and each fixed-point
    step is two matrix-vector products with it; each residual pass costs as
    much again as the first.
    """
    cfg = config or DecompositionConfig()
    if not fs_hz > 0:
        raise InvalidInputError(f"decompose: fs_hz must be > 0, got {fs_hz!r}")
    x = preprocess(emg, fs_hz, cfg, context="decompose")
    units = _search(x, fs_hz, cfg, progress)
    stage = [0] * len(units)
    half = int(round(cfg.residual_window_s * fs_hz))
    waves: list[NDArray[np.float32]] = []  # per unit, estimated where its pass subtracted it
    passes = 1
    for p in range(1, cfg.residual_passes + 1):  # step 10: search what the units found so far leave
        w, x = unit_waveforms(x, [u.spikes for u in units[len(waves):]], half)
        waves.extend(w)
        new = _complete_and_new(_search(x, fs_hz, cfg, progress), units, fs_hz, cfg)
        passes += 1
        log.info("decompose: residual pass %d, %d new complete units", p, len(new))
        units, stage = units + new, stage + [p] * len(new)
        if not new:
            break
    if cfg.residual_passes:  # no later pass subtracts the last pass's units: zeros keep one waveform per unit
        waves.extend(np.zeros((len(units) - len(waves), 2 * half + 1, x.shape[1]), np.float32))
    r = cfg.extension_for(x.shape[1])
    return Decomposition(
        discharges=tuple(u.spikes for u in units),
        sil=np.array([u.sil for u in units], dtype=np.float64),
        pnr_db=np.array([u.pnr_db for u in units], dtype=np.float64),
        filters=np.stack([u.filt for u in units]) if units else np.zeros((0, r, x.shape[1]), np.float32),
        thresholds=np.array([u.threshold for u in units], dtype=np.float64),
        fs_hz=float(fs_hz),
        n_channels=x.shape[1],
        config=cfg,
        n_tried=cfg.n_sources * passes,
        stage=np.array(stage, dtype=np.int64),
        waveforms=(np.stack(waves) if waves else np.zeros((0, 2 * half + 1, x.shape[1]), np.float32))
        if cfg.residual_passes else None,
    )


def _remove_duplicates(units: list[_Unit], fs_hz: float, cfg: DecompositionConfig) -> list[_Unit]:
    """Keep the higher-SIL unit of every pair sharing > ``duplicate_fraction`` of discharges."""
    order = sorted(range(len(units)), key=lambda i: -units[i].sil)
    tol = max(1, int(round(cfg.duplicate_tolerance_s * fs_hz)))
    max_lag = max(1, int(round(cfg.max_lag_s * fs_hz)))
    kept: list[int] = []
    for i in order:
        if all(_common_fraction(units[i].spikes, units[j].spikes, tol, max_lag) <= cfg.duplicate_fraction
               for j in kept):
            kept.append(i)
    return [units[i] for i in sorted(kept)]


__all__ = ["decompose"]
