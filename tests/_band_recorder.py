"""A band proxy for end-to-end tests: it keeps every item it hands the engine, so a test can decode
exactly the recording the engine saw (gaps included) offline and compare."""

from __future__ import annotations

import pytest

from edgeemg.bridge import Block, Gap


class Recorder:
    """A band proxy that keeps every item it hands out: the recording the engine really saw."""

    def __init__(self, band) -> None:
        self._band = band
        self.items: list = []

    def read(self, timeout=None):
        item = self._band.read(timeout)
        if item is not None:
            self.items.append(item)
        return item

    def __getattr__(self, name):
        return getattr(self._band, name)

    def segments(self) -> list[list[Block]]:
        """The received blocks split at every gap."""
        segs: list[list[Block]] = [[]]
        for it in self.items:
            if isinstance(it, Gap):
                segs.append([])
            else:
                segs[-1].append(it)
        return [s for s in segs if s]


def same_payloads(got: list[dict], want: list[dict]) -> None:
    """Streamed and offline event payloads agree: same keys and values, floats to rounding (int8 kernels)."""
    assert [sorted(g) for g in got] == [sorted(w) for w in want]
    for g, w in zip(got, want):
        for k, v in w.items():
            if isinstance(v, (float, dict)):
                assert g[k] == pytest.approx(v, rel=1e-3, abs=1e-4), (k, g, w)
            else:
                assert g[k] == v, (k, g, w)
