"""A DSP chain built from a JSON-able description: what the bundle manifest stores.

A description is a list of stages, each ``{"stage": name, **params}``::

    [{"stage": "bandpass", "low_hz": 20, "high_hz": 450, "order": 4},
     {"stage": "notch", "freq_hz": 50, "harmonics": 3},
     {"stage": "zscore", "mean": [...], "std": [...]},
     {"stage": "window", "window": 400, "hop": 200},
     {"stage": "td_features", "names": ["RMS", "WL", "ZC", "WAMP"]}]

Grammar: any number of sample-wise stages (``bandpass``, ``highpass``, ``notch``,
``zscore``, ``running_zscore``, ``envelope``), then optionally one framing stage:
``window`` (optionally followed by ``td_features``) or ``log_spectrogram``, then
optionally ``stack``: ``length`` consecutive items every ``hop`` items, for a model
whose input is a sequence of frames (the muscle-health segment of 64 spectrogram
frames, a streaming model's chunk of frames).
Training builds the chain offline from the same description the runtime on the
board rebuilds, so both run identical kernels. Consecutive filter stages are fused
into one SOS cascade (the same arithmetic, one kernel call instead of several).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.dsp._backend import kernels
from edgeemg.dsp._validate import check_chunk, check_float, check_int, did_you_mean
from edgeemg.dsp.features import DEFAULT_WAMP_THRESHOLD_UV, FEATURE_NAMES, feature_codes
from edgeemg.dsp.filters import StreamingSOS, bandpass_sos, highpass_sos, notch_sos
from edgeemg.dsp.normalize import Envelope, RunningZScore, ZScore
from edgeemg.dsp.spectral import StreamingLogSpectrogram
from edgeemg.dsp.windowing import Frames, SlidingWindow
from edgeemg.errors import InvalidInputError

logger = logging.getLogger(__name__)

_REQUIRED = object()

# stage -> {param: (kind, default)}; kinds: int, float, pos (float > 0), nonneg, floats, names
STAGE_PARAMS: dict[str, dict[str, tuple[str, Any]]] = {
    "bandpass": {"low_hz": ("pos", 20.0), "high_hz": ("pos", 450.0), "order": ("int", 4)},
    "highpass": {"cutoff_hz": ("pos", _REQUIRED), "order": ("int", 2)},
    "notch": {"freq_hz": ("pos", 50.0), "q": ("pos", 30.0), "harmonics": ("int", 1)},
    "zscore": {"mean": ("floats", _REQUIRED), "std": ("floats", _REQUIRED)},
    "running_zscore": {"time_constant_s": ("pos", 10.0), "eps": ("pos", 1e-6)},
    "envelope": {"cutoff_hz": ("pos", 6.0), "order": ("int", 2)},
    "window": {"window": ("int", _REQUIRED), "hop": ("int", _REQUIRED)},
    "td_features": {
        "names": ("names", ["RMS", "WL", "ZC", "WAMP"]),
        "zc_threshold": ("nonneg", 0.0),
        "ssc_threshold": ("float", 0.0),
        "wamp_threshold": ("nonneg", DEFAULT_WAMP_THRESHOLD_UV),
    },
    "log_spectrogram": {"n_fft": ("int", 64), "hop": ("int", 16)},
    "stack": {"length": ("int", _REQUIRED), "hop": ("int", _REQUIRED)},
}
STAGE_NAMES: tuple[str, ...] = tuple(STAGE_PARAMS)
_FILTER_STAGES = ("bandpass", "highpass", "notch")
_SAMPLE_STAGES = (*_FILTER_STAGES, "zscore", "running_zscore", "envelope")


def _normalise_param(kind: str, value: Any, name: str, ctx: str) -> Any:
    """Check one parameter and return its canonical JSON form (float, int or list)."""
    if kind == "int":
        return check_int(value, name, ctx)
    if kind in ("float", "pos", "nonneg"):
        return check_float(value, name, ctx, positive=kind == "pos", nonneg=kind == "nonneg")
    if kind == "floats":
        if not isinstance(value, (list, tuple)) or not value:
            raise InvalidInputError(f"{ctx}: {name} must be a non-empty list of numbers, got {value!r}")
        return [check_float(v, f"{name}[{i}]", ctx) for i, v in enumerate(value)]
    if kind == "names":
        if not isinstance(value, (list, tuple)):
            raise InvalidInputError(f"{ctx}: {name} must be a list of feature names, got {value!r}")
        feature_codes(list(value), ctx)
        return list(value)
    raise AssertionError(kind)  # pragma: no cover - schema typo


def _normalise_stage(index: int, raw: Any) -> dict[str, Any]:
    """Validate one description entry and fill defaults; errors name the stage index."""
    if not isinstance(raw, dict) or "stage" not in raw:
        raise InvalidInputError(f"Pipeline: stage {index} must be a dict with a 'stage' key, got {raw!r}")
    name = raw["stage"]
    if name not in STAGE_PARAMS:
        raise InvalidInputError(
            f"Pipeline: stage {index} has unknown stage {name!r}; allowed values are {list(STAGE_NAMES)}."
            + did_you_mean(str(name), STAGE_NAMES)
        )
    ctx = f"Pipeline stage {index} ({name!r})"
    schema = STAGE_PARAMS[name]
    unknown = [k for k in raw if k != "stage" and k not in schema]
    if unknown:
        raise InvalidInputError(
            f"{ctx}: unknown parameter {unknown[0]!r}; allowed parameters are {list(schema)}."
            + did_you_mean(unknown[0], schema)
        )
    out: dict[str, Any] = {"stage": name}
    for pname, (kind, default) in schema.items():
        if pname not in raw:
            if default is _REQUIRED:
                raise InvalidInputError(f"{ctx}: missing required parameter {pname!r}; parameters are {list(schema)}")
            out[pname] = copy.deepcopy(default)
        else:
            out[pname] = _normalise_param(kind, raw[pname], pname, ctx)
    return out


def _check_order(stages: list[dict[str, Any]]) -> None:
    """Enforce the grammar: sample-wise stages, then window [td_features] or log_spectrogram."""
    framing_at = None
    for i, st in enumerate(stages):
        name = st["stage"]
        if name == "stack":
            prev = stages[i - 1]["stage"] if i else None
            if prev not in ("window", "td_features", "log_spectrogram"):
                raise InvalidInputError(
                    f"Pipeline: stage {i} ('stack') must directly follow a framing stage "
                    f"('window', 'td_features' or 'log_spectrogram'), follows {prev or 'the input'!r}"
                )
            continue
        if name == "td_features":
            if i == 0 or stages[i - 1]["stage"] != "window":
                prev = stages[i - 1]["stage"] if i else "the input"
                raise InvalidInputError(
                    f"Pipeline: stage {i} ('td_features') must directly follow a 'window' stage, follows {prev!r}"
                )
            continue
        if framing_at is not None:
            raise InvalidInputError(
                f"Pipeline: stage {i} ({name!r}) cannot follow stage {framing_at} "
                f"({stages[framing_at]['stage']!r}); sample-wise stages {list(_SAMPLE_STAGES)} come first, "
                "then one of 'window' (optionally + 'td_features') or 'log_spectrogram'"
            )
        if name in ("window", "log_spectrogram"):
            framing_at = i


class ItemStacker:
    """Streaming stack of consecutive items: ``length`` items every ``hop`` items.

    Item ``k`` of the output is input items ``[k*hop, k*hop + length)`` counted
    since :meth:`reset`, stamped with the ``end_index`` of its last item, so any
    chunking of the item stream gives the same stacks as one offline call. Only
    the last ``length - 1`` items (at most) are kept between calls.

    Parameters
    ----------
    length : int
        Items per stack (e.g. 64 spectrogram frames, ~1 s at a 16 ms hop).
    hop : int
        Items between the first items of consecutive stacks.
    """

    def __init__(self, length: int, hop: int) -> None:
        self.length = check_int(length, "length", "ItemStacker")
        self.hop = check_int(hop, "hop", "ItemStacker")
        self.reset()

    def reset(self) -> None:
        self._buf: NDArray[np.float32] | None = None
        self._ends = np.empty(0, np.int64)
        self._first = 0  # absolute item index of _buf[0]
        self._next = 0  # absolute item index where the next stack starts

    def process(self, items: Frames) -> Frames:
        """Add ``items`` (n, *item_shape); return the stacks they complete, (m, length, *item_shape)."""
        data = items.data if self._buf is None else np.concatenate([self._buf, items.data])
        ends = np.concatenate([self._ends, items.end_index])
        n_have = self._first + data.shape[0]
        starts = []
        while self._next + self.length <= n_have:
            starts.append(self._next - self._first)
            self._next += self.hop
        if starts:
            out = np.stack([data[s : s + self.length] for s in starts])
            out_end = ends[np.asarray(starts) + self.length - 1]
        else:
            out = np.empty((0, self.length, *data.shape[1:]), np.float32)
            out_end = np.empty(0, np.int64)
        keep_from = min(max(self._next - self._first, 0), data.shape[0])
        self._buf, self._ends = data[keep_from:], ends[keep_from:]
        self._first += keep_from
        return Frames(np.ascontiguousarray(out, dtype=np.float32), out_end.astype(np.int64))


class Pipeline:
    """A streaming DSP chain rebuilt from its JSON-able description.

    Output is always a :class:`~edgeemg.dsp.windowing.Frames`: for a sample-wise
    chain its items are samples (``data`` (n, n_channels), ``end_index`` each
    sample's index); after ``window`` they are windows (n_win, window, n_channels),
    after ``td_features`` feature vectors (n_win, n_features, n_channels), after
    ``log_spectrogram`` spectra (n_frames, n_fft//2 + 1, n_channels); a final
    ``stack`` stage puts ``length`` of those items in each output item.

    Use :meth:`from_description` to build one.

    Examples
    --------
    >>> import numpy as np
    >>> p = Pipeline.from_description(
    ...     [{"stage": "bandpass"}, {"stage": "window", "window": 400, "hop": 200}], fs_hz=2000, n_channels=2)
    >>> p.process(np.zeros((600, 2), np.float32)).data.shape
    (2, 400, 2)
    >>> p.item_shape
    (400, 2)
    """

    def __init__(self, stages: list[dict[str, Any]], fs_hz: float, n_channels: int) -> None:
        self.fs_hz = check_float(fs_hz, "fs_hz", "Pipeline", positive=True)
        self.n_channels = check_int(n_channels, "n_channels", "Pipeline")
        self._stages = stages
        self._build()

    @classmethod
    def from_description(cls, description: list[dict[str, Any]], fs_hz: float, n_channels: int) -> Pipeline:
        """Validate ``description`` (see module docstring) and build the chain.

        Raises
        ------
        InvalidInputError
            Naming the stage index for an unknown stage (with allowed values), an
            unknown or missing parameter, a bad value (e.g. a cutoff above fs/2),
            or stages in an order the grammar does not allow.
        """
        if not isinstance(description, (list, tuple)):
            raise InvalidInputError(f"Pipeline: description must be a list of stage dicts, got {description!r}")
        stages = [_normalise_stage(i, raw) for i, raw in enumerate(description)]
        _check_order(stages)
        return cls(stages, fs_hz, n_channels)

    def describe(self) -> list[dict[str, Any]]:
        """The full description (defaults filled in), plain JSON types only."""
        return copy.deepcopy(self._stages)

    def _build(self) -> None:
        fs, n_ch = self.fs_hz, self.n_channels
        self._ops: list[Callable[[NDArray[np.float32]], NDArray[np.float32]]] = []
        self._resettable: list[Any] = []
        self._framer: SlidingWindow | StreamingLogSpectrogram | None = None
        self._features: tuple[NDArray[np.int64], float, float, float] | None = None
        self._td_kernel = kernels().td_kernel  # the backend, resolved once (as in every stage object)
        self._stacker: ItemStacker | None = None
        pending_sos: list[NDArray[np.float64]] = []

        def flush() -> None:
            if pending_sos:
                obj = StreamingSOS(np.concatenate(pending_sos, axis=0), n_ch)
                self._ops.append(obj._process_checked)
                self._resettable.append(obj)
                pending_sos.clear()

        for i, st in enumerate(self._stages):
            name = st["stage"]
            try:
                if name == "bandpass":
                    pending_sos.append(bandpass_sos(st["low_hz"], st["high_hz"], fs_hz=fs, order=st["order"]))
                elif name == "highpass":
                    pending_sos.append(highpass_sos(st["cutoff_hz"], fs_hz=fs, order=st["order"]))
                elif name == "notch":
                    pending_sos.append(notch_sos(st["freq_hz"], fs_hz=fs, q=st["q"], harmonics=st["harmonics"]))
                else:
                    flush()
                    obj: Any
                    if name == "zscore":
                        if len(st["mean"]) != n_ch or len(st["std"]) != n_ch:
                            raise InvalidInputError(
                                f"mean and std must have {n_ch} values (one per channel), "
                                f"got {len(st['mean'])} and {len(st['std'])}"
                            )
                        obj = ZScore(tuple(st["mean"]), tuple(st["std"]))
                    elif name == "running_zscore":
                        obj = RunningZScore(st["time_constant_s"], fs, n_ch, eps=st["eps"])
                    elif name == "envelope":
                        obj = Envelope(st["cutoff_hz"], fs, n_ch, order=st["order"])
                    elif name == "window":
                        self._framer = SlidingWindow(st["window"], st["hop"], n_ch)
                        self._item_shape: tuple[int, ...] = (st["window"], n_ch)
                        continue
                    elif name == "log_spectrogram":
                        self._framer = StreamingLogSpectrogram(st["n_fft"], st["hop"], n_ch)
                        self._item_shape = (st["n_fft"] // 2 + 1, n_ch)
                        continue
                    elif name == "stack":
                        self._stacker = ItemStacker(st["length"], st["hop"])
                        self._item_shape = (st["length"], *self._item_shape)
                        self._resettable.append(self._stacker)
                        continue
                    else:  # td_features
                        if self._item_shape[0] < 2:
                            raise InvalidInputError(f"needs windows of at least 2 samples, got {self._item_shape[0]}")
                        self._features = (
                            feature_codes(st["names"]),
                            st["zc_threshold"],
                            st["ssc_threshold"],
                            st["wamp_threshold"],
                        )
                        self._item_shape = (len(st["names"]), n_ch)
                        continue
                    self._ops.append(obj._process_checked)
                    self._resettable.append(obj)
            except InvalidInputError as exc:
                raise InvalidInputError(f"Pipeline stage {i} ({name!r}): {exc.args[0]}") from None
        flush()
        if self._framer is None:
            self._item_shape = (n_ch,)
        else:
            self._resettable.append(self._framer)
        self._n_seen = 0

    @property
    def item_shape(self) -> tuple[int, ...]:
        """Shape of one output item (``Frames.data.shape[1:]``)."""
        return self._item_shape

    def reset(self) -> None:
        """Forget every stage's state; indices restart at 0."""
        for obj in self._resettable:
            obj.reset()
        self._n_seen = 0

    def process(self, chunk: NDArray[np.float32]) -> Frames:
        """Run one chunk (n_samples, n_channels) through the chain, state carried."""
        x = check_chunk(chunk, self.n_channels, "Pipeline.process")
        return self._process_checked(x)

    def _process_checked(self, x: NDArray[np.float32]) -> Frames:
        for op in self._ops:
            x = op(x)
        start = self._n_seen
        self._n_seen += x.shape[0]
        if self._framer is None:
            return Frames(x, np.arange(start, self._n_seen, dtype=np.int64))
        frames = self._framer._process_checked(x)
        if self._features is not None:
            codes, zc, ssc, wamp = self._features
            frames = Frames(self._td_kernel(frames.data, codes, zc, ssc, wamp), frames.end_index)
        if self._stacker is not None:
            frames = self._stacker.process(frames)
        return frames

    def process_offline(self, signal: NDArray[np.float32]) -> Frames:
        """Run a whole recording through a fresh copy of the chain (this one's state is untouched).

        Same kernels as :meth:`process` over one long chunk, so offline features
        equal streamed ones for any chunking.
        """
        x = check_chunk(signal, self.n_channels, "Pipeline.process_offline", name="signal")
        return Pipeline(self.describe(), self.fs_hz, self.n_channels)._process_checked(x)


__all__ = ["FEATURE_NAMES", "STAGE_NAMES", "STAGE_PARAMS", "ItemStacker", "Pipeline"]
