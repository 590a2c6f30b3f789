"""Misbehaviour a simulated band can act out: garbage, dropped frames, a reboot.

An operator's band misbehaves in a few ways the host must survive and report
honestly (README, "The daemon's health"): a noisy cable or a wrong line rate
turns frames into garbage, a radio or buffer drops frames, a brown-out reboots
the band (its sequence number and clock start again). A :class:`FaultPlan` lays
such faults on the simulated band's *signal* time, not on wall time, so a test
gets the same bytes at any ``speed``. Unplugging is not here: it is the pty
transport's :meth:`~edgeemg.bridge.SimulatedBand.unplug`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import Enum

import numpy as np

from edgeemg.errors import InvalidInputError


class FaultKind(str, Enum):
    """What the band does during a fault."""

    GARBAGE = "garbage"  # random bytes instead of its frames (the frames are lost; their seq numbers are used up)
    DROP = "drop"  # nothing instead of its frames (the frames are lost; their seq numbers are used up)
    REBOOT = "reboot"  # silent, then it starts again: seq 0, device clock 0, a device-info frame first


@dataclass(frozen=True)
class BandFault:
    """One fault: ``kind`` from ``at_s`` for ``duration_s`` seconds of the band's signal.

    For a reboot, ``duration_s`` is how long the band is off before it boots.
    """

    kind: FaultKind
    at_s: float
    duration_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        if not (self.at_s >= 0 and self.duration_s > 0):
            raise InvalidInputError(f"a band fault needs at_s >= 0 and duration_s > 0, got {self}")


def parse_fault(text: str) -> BandFault:
    """``KIND@AT:DURATION`` (seconds of signal), e.g. ``garbage@10:8`` or ``reboot@30:2``: for ``band-sim --fault``.

    Raises
    ------
    InvalidInputError
        Naming the expected form and the kinds.
    """
    kinds = ", ".join(k.value for k in FaultKind)
    try:
        kind, _, span = text.partition("@")
        at, _, duration = span.partition(":")
        return BandFault(FaultKind(kind), float(at), float(duration))
    except ValueError:
        raise InvalidInputError(f"--fault takes KIND@AT:DURATION in seconds with KIND one of {kinds} "
                                f"(e.g. garbage@10:8), got {text!r}") from None


class FaultPlan:
    """The faults of one simulated band, looked up by sample index.

    Parameters
    ----------
    faults : sequence of BandFault
    fs_hz : float
        The band's sample rate (converts signal seconds to sample indices).
    seed : int
        Seeds the garbage bytes.
    """

    def __init__(self, faults: tuple[BandFault, ...] | list[BandFault], fs_hz: float, seed: int = 0) -> None:
        self.faults = tuple(sorted(faults, key=lambda f: f.at_s))
        self._spans = [(round(f.at_s * fs_hz), round((f.at_s + f.duration_s) * fs_hz), f.kind) for f in self.faults]
        self._boots = sorted(end for _a, end, k in self._spans if k is FaultKind.REBOOT)
        self._rng = np.random.default_rng(seed)

    def kind_at(self, sample_index: float) -> FaultKind | None:
        """The fault under way at this sample, if any."""
        return next((k for a, b, k in self._spans if a <= sample_index < b), None)

    def last_boot(self, sample_index: float) -> int | None:
        """Sample index at which the band last booted at or before ``sample_index`` (None: never rebooted)."""
        k = bisect.bisect_right(self._boots, sample_index)
        return self._boots[k - 1] if k else None

    def apply(self, data: bytes, sample_index: int) -> bytes:
        """What the band really sends for a frame whose first sample is ``sample_index``."""
        kind = self.kind_at(sample_index)
        if kind is FaultKind.GARBAGE:
            return self._rng.bytes(len(data))
        if kind is not None:  # dropped, or the band is off
            return b""
        return data


__all__ = ["BandFault", "FaultKind", "FaultPlan", "parse_fault"]
