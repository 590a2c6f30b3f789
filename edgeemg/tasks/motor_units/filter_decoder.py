"""Board-side decoder of the separation-filter model: per-sample unit sources -> spikes and neural drive.

numpy only (the runtime imports this on a board without torch).

The ``filters`` model (:mod:`edgeemg.tasks.motor_units.separation`) is the
classic online decomposition (Glaser et al. 2013; Barsakcioglu et al. 2020;
adapt_decomp): the teacher's separation filters, applied causally to the
extended stream, give one source per unit, one value per sample, scaled so a
discharge peaks near 1. Each model call covers one hop of ``hop`` samples and
returns those ``hop`` source samples per unit (an output with a time axis; the
engine steps this decoder once per call with one row per sample).

Spike detection is the teacher's, made causal (:class:`PeakDetector`): a
sample above the unit's threshold (the midpoint of the teacher's two k-means
clusters, learnt on the training part) becomes a candidate; a higher sample
within ``confirm`` samples replaces it; once ``confirm`` samples have passed
without a higher one, the candidate is a discharge, and the unit is refractory
for ``refractory`` samples (the teacher's 20 ms minimum peak distance). So a
spike is decided ``confirm`` samples after its peak at the earliest; the
algorithmic latency of the whole path is the extension window (the model's)
plus that.

Events: one per model call, ``{"end_index", "units", "spikes", "n_spikes",
"neural_drive"}``: the heads that fired in the call, ``[head, sample]`` of
each spike (the sample of its peak), and the neural drive of
:class:`~edgeemg.tasks.motor_units.decoder.MotorUnitDecoder` (spike count per
hop, causal 400 ms Hann, pulses per second summed over units).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import DictConfig, InvalidInputError
from edgeemg.tasks.manifest import decoder_settings, manifest_labels
from edgeemg.tasks.motor_units.spec import FS_HZ, NEURAL_DRIVE_WINDOW_S, NeuralDrive, hann_taps

FILTER_HOP = 8
"""Samples per model call (3.9 ms at 2048 Hz; the band's frame is 8 samples)."""
CONFIRM = 2
"""Samples after a peak before it is declared (a higher sample within them replaces it)."""
REFRACTORY_S = 0.02
"""The teacher's minimum distance between two discharges of one unit (:mod:`edgeemg.decompose.spikes`)."""


@dataclass(frozen=True)
class FilterDecoderConfig(DictConfig):
    """How unit sources become spikes and neural drive.

    Attributes
    ----------
    threshold : tuple of float
        Per unit, the source level above which a peak is a discharge (sources
        are scaled so the teacher's discharge cluster sits at 1).
    fs_hz : float
        Sample rate, Hz.
    hop : int
        Samples per model call (rows per decoder step).
    confirm : int
        Samples after a peak before it is declared.
    refractory : int
        Samples after a discharge during which the unit cannot fire again.
    drive_window_s : float
        Hann window of the neural drive, seconds.
    """

    LIST_FIELDS = ("threshold",)

    threshold: tuple[float, ...]
    fs_hz: float = FS_HZ
    hop: int = FILTER_HOP
    confirm: int = CONFIRM
    refractory: int = int(round(REFRACTORY_S * FS_HZ))
    drive_window_s: float = NEURAL_DRIVE_WINDOW_S

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", tuple(float(t) for t in np.atleast_1d(self.threshold)))
        if not self.threshold or not all(np.isfinite(t) and t > 0 for t in self.threshold):
            raise InvalidInputError(f"FilterDecoderConfig.threshold must be one finite value > 0 per unit, "
                                    f"got {self.threshold!r}")
        if not float(self.fs_hz) > 0:
            raise InvalidInputError(f"FilterDecoderConfig.fs_hz must be > 0 Hz, got {self.fs_hz!r}")
        for name in ("hop", "confirm", "refractory"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < (1 if name == "hop" else 0):
                raise InvalidInputError(f"FilterDecoderConfig.{name} must be an int >= "
                                        f"{1 if name == 'hop' else 0} samples, got {v!r}")
        if self.refractory <= self.confirm:
            raise InvalidInputError(f"FilterDecoderConfig.refractory ({self.refractory}) must exceed confirm "
                                    f"({self.confirm}) samples: a unit cannot fire twice within one peak")
        if not float(self.drive_window_s) > 0:
            raise InvalidInputError(f"FilterDecoderConfig.drive_window_s must be > 0 s, got {self.drive_window_s!r}")

    def latency_ms(self) -> float:
        """What the detector adds after a source peak: ``confirm`` samples."""
        return 1000.0 * self.confirm / self.fs_hz


class PeakDetector:
    """Causal peak picking above per-unit thresholds, with state carried across chunks.

    Chunked processing gives exactly the spikes of one pass over the whole
    signal: a candidate's fate depends only on the ``confirm`` samples after
    it, whichever chunk they arrive in.
    """

    def __init__(self, thresholds: Any, confirm: int, refractory: int) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float64).ravel()
        self.confirm = int(confirm)
        self.refractory = int(refractory)
        self.reset()

    def reset(self) -> None:
        n = self.thresholds.size
        self._cand_t = np.full(n, -1, np.int64)  # -1: no candidate
        self._cand_v = np.zeros(n)
        self._last = np.full(n, np.iinfo(np.int64).min // 2, np.int64)

    def process(self, sources: Any, first_index: int) -> list[tuple[int, int]]:
        """Consume ``sources`` (n_samples, n_units) starting at sample ``first_index``; return (unit, sample) spikes.

        Spikes come in the order they are decided.
        """
        s = np.asarray(sources, dtype=np.float64)
        if s.ndim != 2 or s.shape[1] != self.thresholds.size:
            raise InvalidInputError(f"PeakDetector.process: sources must be (n_samples, {self.thresholds.size}), "
                                    f"got shape {s.shape}")
        out: list[tuple[int, int]] = []
        last_index = first_index + s.shape[0] - 1
        rows, cols = np.nonzero(s > self.thresholds)
        for u in range(self.thresholds.size):
            for r in rows[cols == u]:
                self._sample(u, first_index + int(r), float(s[r, u]), out)
            if self._cand_t[u] >= 0 and last_index >= self._cand_t[u] + self.confirm:
                self._emit(u, out)
        out.sort(key=lambda p: p[1])
        return out

    def _sample(self, u: int, t: int, v: float, out: list[tuple[int, int]]) -> None:
        if self._cand_t[u] >= 0 and t > self._cand_t[u] + self.confirm:
            self._emit(u, out)
        if t - self._last[u] < self.refractory:
            return
        if self._cand_t[u] < 0 or v > self._cand_v[u]:
            self._cand_t[u], self._cand_v[u] = t, v

    def _emit(self, u: int, out: list[tuple[int, int]]) -> None:
        out.append((u, int(self._cand_t[u])))
        self._last[u] = self._cand_t[u]
        self._cand_t[u] = -1


def detect_offline(sources: Any, config: FilterDecoderConfig) -> tuple[NDArray[np.int64], ...]:
    """Per unit, the spike samples the board decoder emits for ``sources`` (n_samples, n_units) streamed from 0."""
    s = np.asarray(sources)
    det = PeakDetector(config.threshold, config.confirm, config.refractory)
    spikes = det.process(s, 0)
    return tuple(np.array([t for u, t in spikes if u == k], np.int64) for k in range(s.shape[1]))


class FilterSpikeDecoder:
    """Streaming spike detection and neural drive for the separation-filter model's sources.

    Parameters
    ----------
    units : sequence of str
        Unit names in the model's output order.
    config : FilterDecoderConfig

    Examples
    --------
    >>> dec = FilterSpikeDecoder(["mu0"], FilterDecoderConfig(threshold=(0.5,), hop=4, confirm=1, refractory=8))
    >>> ev = dec.step(np.array([[0.1], [0.9], [0.2], [0.1]]), np.arange(4))
    >>> ev[0]["spikes"]
    [[0, 1]]
    """

    def __init__(self, units: list[str] | tuple[str, ...], config: FilterDecoderConfig) -> None:
        self.units = tuple(units)
        if len(self.units) != len(config.threshold):
            raise InvalidInputError(f"FilterSpikeDecoder: {len(self.units)} units but {len(config.threshold)} "
                                    "thresholds (one per unit)")
        self.config = config
        self._drive = NeuralDrive(hann_taps(config.drive_window_s, config.fs_hz, config.hop))
        self._detector = PeakDetector(config.threshold, config.confirm, config.refractory)
        self.reset()

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> FilterSpikeDecoder:
        """Build from a bundle manifest / checkpoint meta: ``labels`` and a ``decoder`` dict."""
        labels = manifest_labels(manifest, "FilterSpikeDecoder", "unit names")
        cfg = decoder_settings(manifest, required_by="FilterSpikeDecoder", holds="thresholds, hop, confirm, refractory")
        return cls(labels, FilterDecoderConfig.from_dict(cfg))

    @property
    def n_units(self) -> int:
        return len(self.units)

    def reset(self) -> None:
        """Forget candidates, refractory periods and the drive history (a new recording or a gap)."""
        self._detector.reset()
        self._drive.reset()

    def step(self, outputs: Any, end_index: Any) -> list[dict[str, Any]]:
        """Consume one model call's sources, shape (n_samples, n_units), one row per consecutive sample.

        Returns one event: the heads that fired, ``[head, sample]`` per spike, and the drive after it.
        """
        s = np.asarray(outputs)
        idx = np.asarray(end_index, dtype=np.int64).reshape(-1)
        if s.ndim != 2 or s.shape[1] != self.n_units or idx.size != s.shape[0] or idx.size == 0:
            raise InvalidInputError(f"FilterSpikeDecoder.step: outputs must be (n_samples, {self.n_units}) with one "
                                    f"end_index per row, got {s.shape} and {idx.size} indices")
        spikes = self._detector.process(s, int(idx[0]))
        drive = self._drive.push(len(spikes) * self.config.hop / s.shape[0])
        return [{
            "end_index": int(idx[-1]),
            "units": sorted({u for u, _ in spikes}),
            "spikes": [[u, t] for u, t in spikes],
            "n_spikes": len(spikes),
            "neural_drive": drive,
        }]

    def finish(self) -> list[dict[str, Any]]:
        """End of stream: a candidate still waiting for its ``confirm`` samples is dropped, nothing else is held."""
        return []


__all__ = ["CONFIRM", "FILTER_HOP", "FilterDecoderConfig", "FilterSpikeDecoder", "PeakDetector", "REFRACTORY_S",
           "detect_offline"]
