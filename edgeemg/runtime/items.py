"""Where a model item sits in the stream (no torch).

The manifest's DSP description that makes model items, how many samples one
item advances, and the table that maps an absolute sample index back to the
band's device time and the host time its frame arrived (what an event's
timing is stamped with).
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Any

from edgeemg.errors import BundleError


def model_dsp(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The DSP description whose items are model input rows (``dsp``, plus a ``segment`` stack if stated)."""
    dsp = [dict(s) for s in manifest["dsp"]]
    seg = manifest.get("segment")
    if seg and not (dsp and dsp[-1].get("stage") == "stack"):
        try:
            dsp.append({"stage": "stack", "length": int(seg["frames"]), "hop": int(seg["hop_frames"])})
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"manifest 'segment' must be {{'frames': int, 'hop_frames': int}}, got {seg!r}") from exc
    return dsp


def item_hop_samples(dsp: list[dict[str, Any]]) -> int:
    """Samples one model item advances by (window hop or spectrogram hop, times the stack hop); 1 if sample-wise."""
    hop = 1
    for st in dsp:
        if st["stage"] in ("window", "log_spectrogram", "stack"):
            hop *= int(st["hop"])
    return hop


class BlockTable:
    """Recent blocks by absolute sample index: device time and host arrival of any recent sample."""

    def __init__(self, fs_hz: float, keep_samples: int) -> None:
        self.fs_hz = fs_hz
        self.keep = int(keep_samples)
        self._first: deque[int] = deque()
        self._rows: deque[tuple[int, int, float]] = deque()  # (n, timestamp_us, host_s)

    def add(self, first: int, n: int, timestamp_us: int, host_s: float) -> None:
        self._first.append(first)
        self._rows.append((n, timestamp_us, host_s))
        while len(self._first) > 1 and self._first[1] + self.keep < first:
            self._first.popleft()
            self._rows.popleft()

    def lookup(self, index: int) -> tuple[int, float]:
        """(device µs, host arrival s) of sample ``index`` (clamped to the blocks kept)."""
        k = max(bisect.bisect_right(self._first, index) - 1, 0)
        n, ts, host = self._rows[k]
        off = min(max(index - self._first[k], 0), n - 1)
        return int(round(ts + off * 1e6 / self.fs_hz)), host


__all__ = ["BlockTable", "item_hop_samples", "model_dsp"]
