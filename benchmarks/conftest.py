"""Shared benchmark plumbing: a book of named timings, ratio gates, and a summary.

Gates compare two timings measured in the same run on the same machine (DESIGN.md:
"gates compare ratios measured in one run"), never an absolute wall time, so they
hold on a laptop, a CI runner or a Raspberry Pi alike.

Usage from any benchmark module (dsp, codec throughput, model latency, ...)::

    def test_ours(benchmark, timings):
        benchmark(step)
        timings.record_benchmark("dsp.chunk32.ours", benchmark)

    def test_ours_vs_scipy(timings):
        timings.require_ratio("chunk 32x40", slow="dsp.chunk32.scipy", fast="dsp.chunk32.ours", at_least=5.0)

``require_ratio`` skips (not fails) when either timing is missing, e.g. when a
benchmark was deselected or ``--benchmark-disable`` was given. Every recorded timing
and ratio is printed in the terminal summary and, with ``EDGEEMG_BENCH_JSON=path``,
written as one JSON object for reports.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pytest


@dataclass(frozen=True)
class Ratio:
    """One gate: ``slow / fast`` measured in this run, and the floor it must reach."""

    label: str
    slow: str
    fast: str
    value: float
    at_least: float

    @property
    def ok(self) -> bool:
        """Whether the gate passed."""
        return self.value >= self.at_least


@dataclass
class TimingBook:
    """Named timings (seconds) recorded by benchmarks, and ratios between them."""

    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    ratios: list[Ratio] = field(default_factory=list)

    def record(self, name: str, seconds: float, note: str = "") -> None:
        """Store a timing measured by hand (e.g. a subprocess wall time)."""
        if not seconds > 0:
            raise ValueError(f"timing {name!r} must be > 0 s, got {seconds!r}")
        self.seconds[name] = float(seconds)
        if note:
            self.notes[name] = note

    def record_benchmark(self, name: str, benchmark: object, stat: str = "median", note: str = "") -> None:
        """Store a pytest-benchmark fixture's statistic (median by default: robust to a busy machine).

        Does nothing when benchmarking is disabled (the fixture then has no stats).
        """
        stats = getattr(getattr(benchmark, "stats", None), "stats", None)
        if stats is None:
            return
        self.record(name, getattr(stats, stat), note or f"pytest-benchmark {stat}")

    def ratio(self, slow: str, fast: str) -> float:
        """``seconds[slow] / seconds[fast]``; skip the calling test if either is missing."""
        missing = [n for n in (slow, fast) if n not in self.seconds]
        if missing:
            pytest.skip(f"timings not recorded in this run: {missing}")
        return self.seconds[slow] / self.seconds[fast]

    def require_ratio(self, label: str, *, slow: str, fast: str, at_least: float) -> float:
        """Record ``slow / fast`` and assert it is at least ``at_least``; return it."""
        value = self.ratio(slow, fast)
        self.ratios.append(Ratio(label, slow, fast, value, at_least))
        assert value >= at_least, (
            f"{label}: expected {fast} at least {at_least}x faster than {slow}, measured {value:.2f}x "
            f"({self.seconds[fast] * 1e6:.1f} us vs {self.seconds[slow] * 1e6:.1f} us)"
        )
        return value

    def as_dict(self) -> dict[str, object]:
        """JSON-able summary."""
        return {
            "seconds": dict(self.seconds),
            "notes": dict(self.notes),
            "ratios": [
                {"label": r.label, "slow": r.slow, "fast": r.fast, "ratio": r.value, "at_least": r.at_least, "ok": r.ok}
                for r in self.ratios
            ],
        }


_BOOK = TimingBook()


@pytest.fixture(scope="session")
def timings() -> TimingBook:
    """The session's :class:`TimingBook` (one per pytest run)."""
    return _BOOK


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:9.2f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:9.2f} ms"
    return f"{seconds:9.3f} s "


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001 - pytest hook
    """Print every timing and ratio of the run (and write JSON if asked)."""
    if not _BOOK.seconds:
        return
    tr = terminalreporter
    tr.section("edgeemg timings (same run, same machine)")
    width = max(len(n) for n in _BOOK.seconds)
    for name, sec in _BOOK.seconds.items():
        note = _BOOK.notes.get(name, "")
        tr.write_line(f"{name:<{width}}  {_fmt(sec)}  {note}")
    for r in _BOOK.ratios:
        verdict = "ok" if r.ok else "FAIL"
        tr.write_line(f"ratio {r.label}: {r.slow} / {r.fast} = {r.value:.2f}x (gate >= {r.at_least}x) {verdict}")
    path = os.environ.get("EDGEEMG_BENCH_JSON")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(_BOOK.as_dict(), fh, indent=2)
