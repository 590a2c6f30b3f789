"""Ring-buffer windowing and the one output type of every framing stage.

A decoder consumes windows (seed 001: 200 ms, 50 % overlap; seed 004: 120 samples,
step 20). The ring buffer makes the streaming windows identical to what offline
training cut with ``sliding_window_view``, whatever chunk sizes the serial link
delivers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp._backend import kernels
from edgeemg.dsp._validate import check_chunk, check_int
from edgeemg.errors import InvalidInputError


@dataclass(frozen=True)
class Frames:
    """Items produced by a streaming call, each stamped with its last sample's index.

    One type for every stage output (STYLE.md rule 4: the return type never
    depends on arguments), possibly empty.

    Attributes
    ----------
    data : ndarray of float32, shape (n_items, *item_shape)
        The items: samples (n, n_channels) for sample-wise stages, windows
        (n_win, window, n_channels), features (n_win, n_features, n_channels) or
        spectra (n_frames, n_fft//2 + 1, n_channels).
    end_index : ndarray of int64, shape (n_items,)
        Absolute index, in the stream since the last ``reset()``, of the last input
        sample each item depends on (for a sample, its own index). Latency
        accounting and label alignment both key on it.
    """

    data: NDArray[np.float32]
    end_index: NDArray[np.int64]

    def __post_init__(self) -> None:
        if self.data.shape[0] != self.end_index.shape[0] or self.end_index.ndim != 1:
            raise InvalidInputError(
                f"Frames: data has {self.data.shape[0]} items but end_index has shape {self.end_index.shape}"
            )

    def __len__(self) -> int:
        return int(self.data.shape[0])


def empty_frames(item_shape: tuple[int, ...]) -> Frames:
    """Zero items of ``item_shape`` (what a chunk that completes nothing yields)."""
    return Frames(np.empty((0, *item_shape), np.float32), np.empty(0, np.int64))


class SlidingWindow:
    """Cut a stream into windows of ``window`` samples every ``hop`` samples.

    Fed any chunking, the concatenation of all returned windows equals
    ``sliding_window_view(stream, window, axis=0)[::hop]`` transposed to
    (n_windows, window, n_channels), and ``end_index`` holds
    ``window - 1 + k * hop`` for the k-th window.

    Parameters
    ----------
    window : int
        Samples per window.
    hop : int
        Samples between the starts of consecutive windows (``hop > window`` skips samples).
    n_channels : int
        Channels per chunk.

    Examples
    --------
    >>> import numpy as np
    >>> sw = SlidingWindow(4, 2, n_channels=1)
    >>> out = sw.process(np.arange(7, dtype=np.float32)[:, None])
    >>> out.data.shape, out.end_index.tolist()
    ((2, 4, 1), [3, 5])
    """

    def __init__(self, window: int, hop: int, n_channels: int) -> None:
        self.window = check_int(window, "window", "SlidingWindow")
        self.hop = check_int(hop, "hop", "SlidingWindow")
        self.n_channels = check_int(n_channels, "n_channels", "SlidingWindow")
        self._window_kernel = kernels().window_kernel  # the backend, resolved once
        self.reset()

    def reset(self) -> None:
        """Forget buffered samples; indices restart at 0."""
        self._ring = np.zeros((self.window, self.n_channels), np.float32)
        self._pos = 0
        self._n_seen = 0

    @property
    def n_seen(self) -> int:
        """Samples received since the last reset."""
        return self._n_seen

    def process(self, chunk: NDArray[np.float32]) -> Frames:
        """Buffer ``chunk`` (n_samples, n_channels) and return the windows it completes."""
        x = check_chunk(chunk, self.n_channels, "SlidingWindow.process")
        return self._process_checked(x)

    def _process_checked(self, x: NDArray[np.float32]) -> Frames:
        data, end, self._ring, self._pos = self._window_kernel(self._ring, self._pos, self._n_seen, x, self.hop)
        self._n_seen += x.shape[0]
        return Frames(data, end)


def windows_offline(x_tc: NDArray[np.float32], window: int, hop: int) -> Frames:
    """All windows of a whole recording, the offline twin of :class:`SlidingWindow`.

    Runs the same ring-buffer kernel over one chunk, so it copies every window;
    use ``sliding_window_view`` directly where a read-only view is enough.
    """
    x = np.asarray(x_tc)
    sw = SlidingWindow(window, hop, x.shape[1] if x.ndim == 2 else 1)
    return sw.process(x)
