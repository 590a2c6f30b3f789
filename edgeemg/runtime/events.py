"""What the engine emits and reports: decoded events with their timing, per-hop compute, counters (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Event:
    """One decoded event with its timing.

    Attributes
    ----------
    task : str
    time_us : int
        Device time (µs, the band's clock) of the newest sample the decision used.
    arrival_s : float
        Host ``time.monotonic()`` when that sample arrived (its frame was read).
    emit_s : float
        Host ``time.monotonic()`` when the event was emitted.
    latency_ms : float
        ``emit - arrival``: what the board added after the sample arrived.
    sample_index : int
        Index of that sample in the stream since the engine started (gaps counted).
    payload : dict
        The task decoder's event (gait state, character, class, unit spikes + drive ...).
    """

    task: str
    time_us: int
    arrival_s: float
    emit_s: float
    latency_ms: float
    sample_index: int
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def time(self) -> float:
        """Device time of the newest sample used, in seconds."""
        return self.time_us * 1e-6

    def __getitem__(self, key: str) -> Any:
        return self.payload[key]

    def to_dict(self) -> dict[str, Any]:
        """The JSON line form: timing keys, then the payload's keys."""
        return {"type": "event", "task": self.task, "time_us": self.time_us, "arrival_s": self.arrival_s,
                "emit_s": self.emit_s, "latency_ms": self.latency_ms, "sample_index": self.sample_index,
                **self.payload}


@dataclass(frozen=True)
class HopTiming:
    """Compute spent on one model item (a hop), in seconds, by stage.

    ``decode_s`` and ``dsp_s`` cover the frames and samples since the previous
    item (the work that led to this one); ``model_s`` is the item's share of
    its backend call.
    """

    decode_s: float
    dsp_s: float
    model_s: float
    decoder_s: float
    latency_s: float  # emit (after the decoder) minus arrival of the item's newest sample

    @property
    def total_s(self) -> float:
        return self.decode_s + self.dsp_s + self.model_s + self.decoder_s


@dataclass(frozen=True)
class EngineStats:
    """Counters and recent latency percentiles (a snapshot)."""

    blocks: int
    samples: int
    items: int
    skipped: int
    events: int
    gaps: int
    gap_samples: int
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    latency_ms_max: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def percentiles(values: Any) -> tuple[float | None, float | None, float | None]:
    """(median, p99, max) of ``values``, or three Nones when there are none."""
    if not len(values):
        return None, None, None
    v = np.asarray(values, dtype=np.float64)
    return float(np.percentile(v, 50)), float(np.percentile(v, 99)), float(v.max())


__all__ = ["EngineStats", "Event", "HopTiming", "percentiles"]
