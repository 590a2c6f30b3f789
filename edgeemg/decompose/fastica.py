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
9. **Acceptance** by silhouette SIL > 0.9 and a minimum number of discharges,
   then **duplicate removal**: units sharing > 30 % of their discharges
   (+-0.5 ms after removing their lag) keep only the one with the higher SIL
   (Negro et al. 2016; Holobar et al. 2014 for PNR, reported per unit).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.signal
from numpy.typing import NDArray
from tqdm import tqdm

from edgeemg.decompose.spikes import detect_spikes, isi_cov, pulse_to_noise_ratio, silhouette
from edgeemg.dsp import bandpass_sos
from edgeemg.errors import InvalidInputError, reject_unknown_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecompositionConfig:
    """Settings of :func:`decompose`.

    Attributes
    ----------
    band_hz : tuple of float
        Band-pass corners in Hz (20-500 Hz).
    filter_order : int
        Butterworth prototype order of the band-pass (applied forward and backward).
    extension : int or None
        Delays ``R``; None gives ``round(1000 / n_channels)`` (16 for 64 channels).
    n_sources : int
        How many sources to try (fixed-point runs from successive activity-index peaks).
    max_iter : int
        Fixed-point iterations per source.
    tol : float
        Convergence: ``|w_new . w_old - 1| < tol``.
    refine_iter : int
        CKC refinement rounds at most per source.
    sil_threshold : float
        Accept a source when its silhouette exceeds this (0.9).
    min_spikes : int
        ... and it has at least this many discharges.
    duplicate_fraction : float
        Units sharing more than this fraction of discharges are duplicates (0.3).
    duplicate_tolerance_s : float
        Two discharges are common when within this time after lag removal (0.5 ms).
    max_lag_s : float
        Largest lag searched between two units' trains (duplicates) (20 ms: a source
        can lock onto a unit at another delay of its MUAP).
    peel_off : bool
        (default True) After accepting a source, subtract its unit's contribution from the whitened
        data (its spike-triggered average over +-``peel_off_window_s`` at every
        discharge; Holobar & Zazula 2007's peel-off, MUniverse's CBSS) so that later
        runs cannot converge on the same unit at another delay of its MUAP, which
        deflation against one separation vector does not prevent. Each unit found on
        peeled data is then refined and accepted again on the original data, the
        data its filter will be applied to.
    peel_off_window_s : float
        Half-width of the peeled waveform, seconds.
    min_pnr_db : float or None
        Also require this pulse-to-noise ratio (Holobar et al. 2014 call >= 30 dB
        accurate); None: SIL alone.
    """

    band_hz: tuple[float, float] = (20.0, 500.0)
    filter_order: int = 2
    extension: int | None = None
    n_sources: int = 60
    max_iter: int = 40
    tol: float = 1e-4
    refine_iter: int = 10
    sil_threshold: float = 0.9
    min_spikes: int = 20
    duplicate_fraction: float = 0.3
    duplicate_tolerance_s: float = 0.0005
    max_lag_s: float = 0.02
    peel_off: bool = True
    peel_off_window_s: float = 0.025
    min_pnr_db: float | None = None

    def __post_init__(self) -> None:
        lo, hi = self.band_hz
        if not 0 < lo < hi:
            raise InvalidInputError(f"DecompositionConfig.band_hz must be 0 < low < high Hz, got {self.band_hz!r}")
        if self.extension is not None and (not isinstance(self.extension, int) or self.extension < 1):
            raise InvalidInputError(
                f"DecompositionConfig.extension must be None or an int >= 1, got {self.extension!r}"
            )
        for name in ("n_sources", "max_iter", "filter_order", "min_spikes"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidInputError(f"DecompositionConfig.{name} must be an int >= 1, got {v!r}")
        if not 0.0 <= self.sil_threshold < 1.0:
            raise InvalidInputError(f"DecompositionConfig.sil_threshold must be in [0, 1), got {self.sil_threshold!r}")

    def extension_for(self, n_channels: int) -> int:
        """``R`` for ``n_channels``: the configured value or ``round(1000 / n_channels)``."""
        return self.extension if self.extension is not None else max(1, int(round(1000 / n_channels)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["band_hz"] = list(self.band_hz)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecompositionConfig:
        reject_unknown_keys(cls, d)
        d = dict(d)
        if "band_hz" in d:
            d["band_hz"] = tuple(d["band_hz"])
        return cls(**d)


@dataclass(frozen=True, eq=False)
class Decomposition:
    """Motor units found by :func:`decompose`, in the order they were accepted.

    Attributes
    ----------
    discharges : tuple of ndarray of int64
        Discharge sample indices per unit (at the source's peak: a fixed,
        unit-specific lag after the true discharge).
    sil : ndarray of float64, shape (n_units,)
    pnr_db : ndarray of float64, shape (n_units,)
    filters : ndarray of float32, shape (n_units, R, n_channels)
        Separation filters in the band-passed signal's space: the source is
        ``s(t) = sum_r sum_c filters[u, r, c] * x(t - r, c)``, which lets
        :meth:`apply` decode new data of the same grid without re-whitening.
    fs_hz : float
    n_channels : int
    config : DecompositionConfig
    n_tried : int
        Sources tried (fixed-point runs).
    """

    discharges: tuple[NDArray[np.int64], ...]
    sil: NDArray[np.float64]
    pnr_db: NDArray[np.float64]
    filters: NDArray[np.float32]
    fs_hz: float
    n_channels: int
    config: DecompositionConfig = field(default_factory=DecompositionConfig)
    n_tried: int = 0

    @property
    def n_units(self) -> int:
        return len(self.discharges)

    def apply(self, emg: NDArray[np.floating]) -> tuple[tuple[NDArray[np.int64], ...], NDArray[np.float64]]:
        """Decode another recording of the same grid with the stored separation filters.

        Returns the discharges per unit (detected on each new source exactly as
        in the decomposition) and the sources, shape (n_units, n_samples).
        """
        x = preprocess(emg, self.fs_hz, self.config, context="Decomposition.apply", n_channels=self.n_channels)
        sources = np.stack([fir_source(x, f) for f in self.filters]) if len(self.filters) else np.zeros((0, x.shape[0]))
        return tuple(detect_spikes(s, self.fs_hz).spikes for s in sources), sources


def preprocess(emg: Any, fs_hz: float, config: DecompositionConfig, *, context: str,
               n_channels: int | None = None) -> NDArray[np.float64]:
    """Validate (n_samples, n_channels) EMG and band-pass it forward and backward."""
    x = np.asarray(emg)
    if x.ndim != 2 or (n_channels is not None and x.shape[1] != n_channels):
        want = f"(n_samples, {n_channels})" if n_channels else "(n_samples, n_channels)"
        raise InvalidInputError(f"{context}: emg must have shape {want}, got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise InvalidInputError(f"{context}: emg must be float32 microvolts, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError(f"{context}: emg contains NaN or inf")
    if x.shape[0] < int(fs_hz):
        raise InvalidInputError(f"{context}: need at least 1 s of signal ({int(fs_hz)} samples), got {x.shape[0]}")
    hi = min(config.band_hz[1], 0.45 * fs_hz)
    sos = bandpass_sos(config.band_hz[0], hi, fs_hz=fs_hz, order=config.filter_order)
    return scipy.signal.sosfiltfilt(sos, x.astype(np.float64), axis=0)


def extend(x: NDArray[np.floating], r: int) -> NDArray[np.float32]:
    """Extended observations, shape (n_samples, r * n_channels): column ``k*C + c`` is ``x(t - k, c)``."""
    n, c = x.shape
    ext = np.zeros((n, r * c), dtype=np.float32)
    for k in range(r):
        ext[k:, k * c:(k + 1) * c] = x[: n - k]
    return ext


def fir_source(x: NDArray[np.floating], filt: NDArray[np.floating]) -> NDArray[np.float64]:
    """``s(t) = sum_k filt[k] . x(t - k)`` for a (R, C) filter (what ``ext @ filt.ravel()`` gives)."""
    n = x.shape[0]
    s = np.zeros(n)
    for k in range(filt.shape[0]):
        s[k:] += x[: n - k] @ filt[k].astype(np.float64)
    return s


def whiten(ext: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """Centre and whiten: returns Z (n_samples, K) and W (K, RC) with ``z = W (x_ext - mean)``.

    Eigenvalues below the mean of the smaller half are treated as noise and
    dropped (Negro et al. 2016), which also makes K smaller than R*C.
    """
    ext -= ext.mean(axis=0, keepdims=True)
    cov = (ext.T @ ext).astype(np.float64) / ext.shape[0]
    d, e = np.linalg.eigh(cov)
    floor = float(d[: d.size // 2].mean()) if d.size > 1 else 0.0
    keep = d > max(floor, 1e-12 * float(d.max()))
    w = (e[:, keep] / np.sqrt(d[keep])).T
    z = ext @ w.T.astype(np.float32)
    return np.ascontiguousarray(z, dtype=np.float32), w


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


def _acceptable(s: NDArray[np.float64], det: Any, cfg: DecompositionConfig) -> bool:
    """SIL above the threshold, enough discharges, and the PNR floor where one is set."""
    if not (silhouette(det) > cfg.sil_threshold and det.spikes.size >= cfg.min_spikes):
        return False
    return cfg.min_pnr_db is None or pulse_to_noise_ratio(s, det.spikes) >= cfg.min_pnr_db


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
        Accepted, de-duplicated units with their SIL, PNR and separation filters.

    Raises
    ------
    InvalidInputError
        ``emg`` not 2-D floating, non-finite, or shorter than 1 s.

    Notes
    -----
    Cost: the whitened extended signal is held in memory as float32,
    ``n_samples * K * 4`` bytes (K <= R * n_channels, ~1000), and each fixed-point
    step is two matrix-vector products with it.
    """
    cfg = config or DecompositionConfig()
    if not fs_hz > 0:
        raise InvalidInputError(f"decompose: fs_hz must be > 0, got {fs_hz!r}")
    x = preprocess(emg, fs_hz, cfg, context="decompose")
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
    units: list[tuple[NDArray[np.int64], float, float, NDArray[np.float64]]] = []
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
        if cfg.peel_off and _acceptable(s, det, cfg):
            _peel(z, det.spikes, int(round(cfg.peel_off_window_s * fs_hz)))
            activity = np.einsum("tk,tk->t", z, z)
            w_ref, s, det = _refine(z0, w_ref, fs_hz, cfg)
        for t in used:
            activity[max(0, t - guard): t + guard + 1] = 0.0
        if _acceptable(s, det, cfg):
            units.append((det.spikes, silhouette(det), pulse_to_noise_ratio(s, det.spikes), w_ref))
    kept = _remove_duplicates(units, fs_hz, cfg)
    filters = np.stack([(wmat.T @ u[3]).reshape(r, c) for u in kept]).astype(np.float32) if kept else \
        np.zeros((0, r, c), np.float32)
    log.info("decompose: %d sources tried, %d accepted, %d after duplicate removal",
             cfg.n_sources, len(units), len(kept))
    return Decomposition(
        discharges=tuple(u[0].astype(np.int64) for u in kept),
        sil=np.array([u[1] for u in kept], dtype=np.float64),
        pnr_db=np.array([u[2] for u in kept], dtype=np.float64),
        filters=filters,
        fs_hz=float(fs_hz),
        n_channels=c,
        config=cfg,
        n_tried=cfg.n_sources,
    )


def _remove_duplicates(units: list[Any], fs_hz: float, cfg: DecompositionConfig) -> list[Any]:
    """Keep the higher-SIL unit of every pair sharing > ``duplicate_fraction`` of discharges."""
    order = sorted(range(len(units)), key=lambda i: -units[i][1])
    tol = max(1, int(round(cfg.duplicate_tolerance_s * fs_hz)))
    max_lag = max(1, int(round(cfg.max_lag_s * fs_hz)))
    kept: list[int] = []
    for i in order:
        if all(_common_fraction(units[i][0], units[j][0], tol, max_lag) <= cfg.duplicate_fraction for j in kept):
            kept.append(i)
    return [units[i] for i in sorted(kept)]


__all__ = ["Decomposition", "DecompositionConfig", "decompose", "extend", "fir_source", "preprocess", "whiten"]
