"""Boundary checks shared by every dsp object (STYLE.md rule 6: validate first).

Each helper returns the normalised value (like scipy's ``_validate_sos``) so a
caller writes ``x = check_chunk(x, 32, "StreamingSOS.process")`` and never has to
think about dtype or memory layout again. Messages name the context, what was
expected and what arrived.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from edgeemg.errors import InvalidInputError


def did_you_mean(value: str, allowed: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest allowed name, or ``""``."""
    allowed = list(allowed)
    close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.5)
    if not close:  # case-insensitive fallback ("rms" -> "RMS")
        lowered = {a.lower(): a for a in allowed}
        if str(value).lower() in lowered:
            close = [lowered[str(value).lower()]]
    return f" Did you mean '{close[0]}'?" if close else ""


def check_chunk(x: Any, n_channels: int, context: str, *, name: str = "chunk") -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 (n_samples, n_channels) array, or raise.

    float64 (and other float widths) are converted; integers, booleans and complex
    values are rejected because silently casting ADC counts to microvolts hides a
    missing scale factor.
    """
    if (
        type(x) is np.ndarray
        and x.dtype == np.float32
        and x.ndim == 2
        and x.shape[1] == n_channels
        and x.flags.c_contiguous
        and math.isfinite(float(np.dot(x.ravel(), x.ravel())))
    ):
        # fast path for the per-chunk call: any NaN/inf makes the dot product
        # non-finite, and a finite dot product proves every value finite; a
        # non-finite dot (NaN/inf, or a float32 overflow) falls through to the exact check
        return x
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise InvalidInputError(
            f"{context}: {name} must be 2-D (n_samples, n_channels) with {n_channels} channels, "
            f"got {arr.ndim}-D array of shape {arr.shape}"
        )
    if arr.shape[1] != n_channels:
        raise InvalidInputError(
            f"{context}: {name} must have {n_channels} channels (shape (n, {n_channels})), got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise InvalidInputError(
            f"{context}: {name} must be a float array (float32 microvolts; float64 is converted), "
            f"got dtype {arr.dtype}"
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.size and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InvalidInputError(
            f"{context}: {name} must be finite, got {arr[bad[0], bad[1]]} at sample {bad[0]}, channel {bad[1]}"
        )
    return arr


def check_int(value: Any, name: str, context: str, *, minimum: int = 1) -> int:
    """Return ``value`` as int if it is an integer >= ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidInputError(f"{context}: {name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise InvalidInputError(f"{context}: {name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_float(value: Any, name: str, context: str, *, positive: bool = False, nonneg: bool = False) -> float:
    """Return ``value`` as a finite float, optionally > 0 or >= 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{context}: {name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidInputError(f"{context}: {name} must be finite, got {v}")
    if positive and v <= 0:
        raise InvalidInputError(f"{context}: {name} must be > 0, got {v}")
    if nonneg and v < 0:
        raise InvalidInputError(f"{context}: {name} must be >= 0, got {v}")
    return v


def check_cutoff(value: Any, name: str, fs_hz: float, context: str) -> float:
    """Check ``0 < value < fs/2`` with scipy's wording, so users recognise the rule."""
    v = check_float(value, name, context)
    nyq = fs_hz / 2.0
    if not 0.0 < v < nyq:
        raise InvalidInputError(
            f"{context}: {name}={v} is out of range: must be 0 < Wn < fs/2 (fs={fs_hz} -> fs/2={nyq})"
        )
    return v


def check_per_channel(values: Any, name: str, n_channels: int, context: str, *, positive: bool = False) -> np.ndarray:
    """Return a (n_channels,) float64 vector of finite values, or raise naming the shape."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{context}: {name} must be {n_channels} numbers, got {values!r}") from exc
    if arr.shape != (n_channels,):
        raise InvalidInputError(f"{context}: {name} must have shape ({n_channels},), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{context}: {name} must be finite, got {arr.tolist()}")
    if positive and (arr <= 0).any():
        i = int(np.argmax(arr <= 0))
        raise InvalidInputError(f"{context}: {name} must be > 0 for every channel, got {arr[i]} at channel {i}")
    return arr
