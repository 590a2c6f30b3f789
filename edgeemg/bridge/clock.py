"""Device-clock -> host-clock mapping that follows drift instead of accumulating it.

A band stamps each frame with its own microsecond clock; the host stamps
arrival with ``time.monotonic()``. Their difference, the *offset*, is the true
clock offset plus a transport delay that is never negative (USB polling,
driver buffering, scheduling). Two facts follow:

* the lower envelope of the offsets is the true offset plus the *minimum*
  delay, so minima are what to fit; averages would carry the jitter;
* the two crystals disagree by tens of ppm (50 ppm is 3 ms a minute), so the
  envelope is a slowly sloped line, not a constant: the mapping fits a line to
  per-bucket minima over a sliding window and keeps re-fitting, so its error
  stays bounded however long the stream runs. Counting samples times a nominal
  rate would drift without bound.
"""

from __future__ import annotations

import threading
from collections import deque

from edgeemg.errors import InvalidInputError


class ClockMapper:
    """Map device timestamps (µs) to host ``time.monotonic()`` seconds.

    Parameters
    ----------
    window_s : float
        Device-time span of the envelope kept for the fit; longer averages the
        slope better, shorter follows temperature-driven drift changes sooner.
    bucket_s : float
        Each bucket keeps the minimum offset seen in it; a bucket must be longer
        than the worst burst of transport delay for its minimum to be clean.

    Notes
    -----
    Thread-safe: the reader thread calls :meth:`update`, consumers call
    :meth:`to_host`. The mapped host time of a sample is when it would have
    arrived over the fastest observed path, i.e. an honest lower bound for
    latency accounting.
    """

    def __init__(self, window_s: float = 30.0, bucket_s: float = 0.5) -> None:
        if not (window_s > 0 and bucket_s > 0 and window_s >= 2 * bucket_s):
            raise InvalidInputError(f"need window_s >= 2 * bucket_s > 0, got window_s={window_s}, bucket_s={bucket_s}")
        self.window_s = float(window_s)
        self.bucket_s = float(bucket_s)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything (e.g. the device rebooted and its clock restarted)."""
        with getattr(self, "_lock", threading.Lock()):
            self._ref_us: int | None = None
            self._buckets: deque[tuple[int, float, float]] = deque()  # (bucket index, device_s, min offset)
            self._a = 0.0  # offset at device_s = 0 (relative to _ref_us)
            self._b = 0.0  # slope: host seconds gained per device second (skew)
            self._a_complete = float("inf")  # envelope intercept over completed buckets
            self._n = 0

    @property
    def ready(self) -> bool:
        """True once at least one observation has been made."""
        return self._n > 0

    @property
    def skew_ppm(self) -> float:
        """Host-minus-device rate difference, parts per million (0 until two buckets exist)."""
        return self._b * 1e6

    def update(self, device_us: int, host_s: float) -> None:
        """Record that the sample stamped ``device_us`` arrived at host time ``host_s``."""
        with self._lock:
            if self._ref_us is None:
                self._ref_us = int(device_us)
            d = (int(device_us) - self._ref_us) * 1e-6
            off = host_s - d
            k = int(d // self.bucket_s)
            bk = self._buckets
            if bk and k < bk[-1][0]:
                return  # out-of-order device time (not expected on one link): ignore
            if bk and bk[-1][0] == k:
                if off < bk[-1][2]:
                    bk[-1] = (k, d, off)
            else:
                bk.append((k, d, off))
                while bk and (d - bk[0][1]) > self.window_s:
                    bk.popleft()
                self._refit()  # slope only changes when a bucket completes
            self._n += 1
            _k, t_new, o_new = bk[-1]
            self._a = min(self._a_complete, o_new - self._b * t_new)

    def _refit(self) -> None:
        """Least squares over the completed buckets' minima, then shift onto the lower envelope."""
        pts = list(self._buckets)[:-1]
        if len(pts) >= 2:
            n = len(pts)
            mt = sum(t for _k, t, _o in pts) / n
            mo = sum(o for _k, _t, o in pts) / n
            stt = sum((t - mt) ** 2 for _k, t, _o in pts)
            if stt > 0:
                self._b = sum((t - mt) * (o - mo) for _k, t, o in pts) / stt
        # every kept minimum lies on or above the line: it is a lower support line
        self._a_complete = min((o - self._b * t for _k, t, o in pts), default=float("inf"))

    def to_host(self, device_us: int | float) -> float:
        """Host monotonic time (s) corresponding to device time ``device_us``."""
        with self._lock:
            if self._ref_us is None:
                raise InvalidInputError("ClockMapper.to_host called before any update(); no frame has arrived yet")
            d = (device_us - self._ref_us) * 1e-6
            return d + self._a + self._b * d
