"""Settings of the teacher's decomposition (:func:`edgeemg.decompose.fastica.decompose`)."""

from __future__ import annotations

from dataclasses import dataclass

from edgeemg.errors import DictConfig, InvalidInputError


@dataclass(frozen=True)
class DecompositionConfig(DictConfig):
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
    residual_passes : int
        (default 1) Searches of the residual left once the units found so far are
        subtracted from the band-passed EMG (:mod:`edgeemg.decompose.residual`); 0: none.
    residual_window_s : float
        Half-width of each unit's waveform subtracted for the residual pass (50 ms:
        a whole MUAP, ~47 ms here, wherever the source's peak falls in it). A
        residual unit is a duplicate of an earlier one up to twice this lag: what
        the subtraction leaves of a unit (the band-pass's tails) can be found again
        52-71 ms after its discharges.
    max_skipped_fraction : float
        A unit found on the residual is kept when at most this fraction of its
        inter-spike intervals look like a skipped discharge
        (:func:`~edgeemg.decompose.spikes.skipped_fraction`; 0.05).
    regular_split : bool
        (default True) An accepted unit, of any pass, whose train skips more than
        ``max_skipped_fraction`` takes the lower height split where its train fires
        most regularly (:func:`~edgeemg.decompose.spikes.regular_threshold`) when
        that brings it under; the split is stored for decoding. A residual unit
        that stays over is dropped, a first-pass one keeps its k-means train
        up to ``max_incomplete_skipped_fraction``.
    max_incomplete_skipped_fraction : float or None
        (default 0.1) A first-pass unit whose train skips more than this even
        split lower is dropped; None: kept. Measured (20 s, 13x5 at 50 %; 10 s
        at 30 %): kept trains at 0.08-0.10 were units at sensitivity 0.96-1.00
        (one firing intermittently, ISI CoV 0.8), the two at 0.175 a unit at
        sensitivity 0.66 and two units merged in one source (precision 0.5).
    complete_sil_threshold : float or None
        (default 0.85) Also accept a source whose SIL is only above this (below
        ``sil_threshold``) when its train, split lower if need be, skips no more
        than ``max_skipped_fraction`` and has at most ``max_short_fraction``
        of short intervals; None: SIL above ``sil_threshold`` only.
    max_short_fraction : float
        (default 0.01) The share of intervals under 0.6 of the median
        (:func:`~edgeemg.decompose.spikes.short_fraction`: noise peaks in the
        train) allowed to a unit accepted under ``complete_sil_threshold``.
    max_median_isi_s : float or None
        (default 0.2 s) Refuse a train whose median inter-spike interval is longer
        (under 5 pps: recruited units fire at >= 5-8 pps). What such a source was,
        measured against the simulator's truth (8x8, 50 %, 20 s): 36 discharges at
        SIL 0.93, 100 % and 92 % of them coincident with the discharges of two
        units not found (32 and 21 pps), 6-8 % of each one's: a source of their
        superposed MUAPs, not a unit. None: no such bar.
    """

    LIST_FIELDS = ("band_hz",)

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
    residual_passes: int = 1
    residual_window_s: float = 0.05
    max_skipped_fraction: float = 0.05
    regular_split: bool = True
    max_incomplete_skipped_fraction: float | None = 0.1
    complete_sil_threshold: float | None = 0.85
    max_short_fraction: float = 0.01
    max_median_isi_s: float | None = 0.2

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
        if not isinstance(self.residual_passes, int) or self.residual_passes < 0:
            raise InvalidInputError(
                f"DecompositionConfig.residual_passes must be an int >= 0, got {self.residual_passes!r}")
        for name in ("max_short_fraction", "max_incomplete_skipped_fraction"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise InvalidInputError(f"DecompositionConfig.{name} must be in [0, 1], got {v!r}")
        if not 0.0 <= self.max_skipped_fraction <= 1.0:
            raise InvalidInputError(
                f"DecompositionConfig.max_skipped_fraction must be in [0, 1], got {self.max_skipped_fraction!r}")
        if self.complete_sil_threshold is not None and not 0.0 <= self.complete_sil_threshold < 1.0:
            raise InvalidInputError("DecompositionConfig.complete_sil_threshold must be None or in [0, 1), got "
                                    f"{self.complete_sil_threshold!r}")
        if not 0.0 <= self.sil_threshold < 1.0:
            raise InvalidInputError(f"DecompositionConfig.sil_threshold must be in [0, 1), got {self.sil_threshold!r}")

    def extension_for(self, n_channels: int) -> int:
        """``R`` for ``n_channels``: the configured value or ``round(1000 / n_channels)``."""
        return self.extension if self.extension is not None else max(1, int(round(1000 / n_channels)))


__all__ = ["DecompositionConfig"]
