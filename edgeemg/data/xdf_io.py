"""XDF recordings (LabRecorder's format) in, through the ``pyxdf`` package.

A LabRecorder file holds every LSL stream that was recorded side by side: the
amplifier's EMG, marker streams from the experiment program, and (when
``edgeemg run --sink lsl:NAME`` was running) the decoder's own events. This
reader picks one numeric stream as the recording and turns the string streams
into annotations on its sample grid, so the result is the
:class:`~edgeemg.data.wfdb_io.WfdbRecording` every other reader returns and the
task readers (gait, muscle health) accept ``.xdf`` like a WFDB record.

Timestamps are pyxdf's: clock offsets applied (``synchronize_clocks``) and
jitter removed (``dejitter_timestamps``), which puts markers recorded on
another machine's clock onto the EMG stream's time line. A marker lands on the
EMG sample nearest its timestamp.
"""

from __future__ import annotations

import logging
import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.recording import uv_per_unit
from edgeemg.data.wfdb_io import WfdbRecording, muscle_condition
from edgeemg.errors import DataFormatError, require

XDF_SUFFIX = ".xdf"
DEFAULT_STREAM = "EMG"

log = logging.getLogger(__name__)


def _first(info: dict[str, Any], key: str, default: str = "") -> str:
    """pyxdf stores every XML field as a one-element list (or None for an empty element)."""
    v = info.get(key)
    return str(v[0]) if v and v[0] is not None else default


def _channels(info: dict[str, Any], n: int) -> tuple[list[str], list[str]]:
    """Channel labels and units from ``desc/channels/channel`` (XDF meta-data convention); defaults when absent."""
    try:
        chans = info["desc"][0]["channels"][0]["channel"]
    except (KeyError, IndexError, TypeError):
        chans = []
    labels = [_first(c, "label", f"ch{i + 1}") for i, c in enumerate(chans[:n])]
    units = [_first(c, "unit", "microvolts") for c in chans[:n]]
    labels += [f"ch{i + 1}" for i in range(len(labels), n)]
    units += ["microvolts"] * (n - len(units))
    return labels, units


def _describe(streams: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"'{_first(s['info'], 'name')}' (type '{_first(s['info'], 'type')}', {_first(s['info'], 'channel_count')} ch, "
        f"{_first(s['info'], 'nominal_srate')} Hz, {_first(s['info'], 'channel_format')})" for s in streams
    ) or "no readable stream (an empty or damaged file)"


def _pick(streams: list[dict[str, Any]], stream: str, path: pathlib.Path) -> dict[str, Any]:
    """The one numeric stream whose name, else whose type, equals ``stream`` (case-insensitive)."""
    numeric = [s for s in streams if _first(s["info"], "channel_format") != "string"]
    key = stream.lower()
    for field in ("name", "type"):
        hits = [s for s in numeric if _first(s["info"], field).lower() == key]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise DataFormatError(
                f"{path}: {len(hits)} numeric streams have {field} '{stream}': {_describe(hits)}; "
                "pass the stream's name to read_xdf(..., stream=NAME)"
            )
    signals = [s for s in numeric if float(_first(s["info"], "nominal_srate", "0")) > 0]
    if key == DEFAULT_STREAM.lower() and len(signals) == 1:
        # the only signal in the file (the OpenBCI GUI, for one, types its stream EEG): what the user means
        log.info("%s: no stream named or typed 'EMG'; reading the file's only signal stream, %s", path,
                 _describe(signals))
        return signals[0]
    raise DataFormatError(
        f"{path}: no numeric stream named or typed '{stream}'; the file has {_describe(streams)}"
    )


@dataclass(frozen=True)
class XdfMarkers:
    """One string stream of an XDF file: its first channel's values at their (synchronised) timestamps."""

    name: str
    type: str
    stamps: NDArray[np.float64]
    values: tuple[str, ...]


@dataclass(frozen=True)
class XdfSignal:
    """The chosen numeric stream of an XDF file, in microvolts where its units say volts, plus every marker stream.

    Attributes
    ----------
    x : ndarray of float32, shape (n_samples, n_channels)
        Voltage channels in microvolts, others as stored (``to_uv`` NaN).
    stamps : ndarray of float64, shape (n_samples,)
        LSL time (s) of each sample, clock offsets applied and jitter removed.
    fs_hz : float
        The stream's nominal rate.
    name, type : str
    channel_names, units : tuple of str
    to_uv : tuple of float
    markers : tuple of XdfMarkers
        Every non-empty string stream, in file order.
    path : pathlib.Path
    """

    x: NDArray[np.float32]
    stamps: NDArray[np.float64]
    fs_hz: float
    name: str
    type: str
    channel_names: tuple[str, ...]
    units: tuple[str, ...]
    to_uv: tuple[float, ...]
    markers: tuple[XdfMarkers, ...]
    path: pathlib.Path

    def nearest_samples(self, t: NDArray[np.float64]) -> NDArray[np.int64]:
        """The sample of this stream nearest each time ``t`` (LSL s), clipped to the recording."""
        if not len(self.stamps):
            return np.zeros(len(t), dtype=np.int64)
        idx = np.searchsorted(self.stamps, np.asarray(t, dtype=np.float64) - 0.5 / self.fs_hz)
        return np.minimum(idx, len(self.stamps) - 1).astype(np.int64)

    def marker_stream(self, key: str) -> XdfMarkers | None:
        """The marker stream whose name, else whose type, equals ``key`` (case-insensitive); None if none does."""
        for field in ("name", "type"):
            hits = [m for m in self.markers if getattr(m, field).lower() == key.lower()]
            if hits:
                return hits[0]
        return None

    def describe_markers(self) -> str:
        return ", ".join(f"'{m.name}' (type '{m.type}', {len(m.values)} markers)" for m in self.markers) or "none"


def read_xdf_streams(path: str | pathlib.Path, stream: str = DEFAULT_STREAM) -> XdfSignal:
    """Load an XDF file through pyxdf: one numeric stream (by name, else type) and every marker stream.

    The task readers build on this (:func:`read_xdf` for WFDB-like records,
    :mod:`edgeemg.data.xdf_labels` for keystrokes and motor units). Raises as
    :func:`read_xdf` does.
    """
    pyxdf = require("pyxdf", "reading XDF files")
    p = pathlib.Path(path)
    if not p.is_file():
        raise DataFormatError(f"{p}: no such XDF file")
    try:
        streams, _header = pyxdf.load_xdf(str(p))
    except Exception as exc:  # pyxdf raises bare struct/XML/IO errors on damaged files
        raise DataFormatError(f"{p}: pyxdf could not read the file ({type(exc).__name__}: {exc})") from exc
    chosen = _pick(streams, stream, p)
    info = chosen["info"]
    fs_hz = float(_first(info, "nominal_srate", "0"))
    if fs_hz <= 0:
        raise DataFormatError(f"{p}: stream '{_first(info, 'name')}' has an irregular rate (nominal_srate 0); "
                              "it holds events, not a signal")
    x = np.asarray(chosen["time_series"], dtype=np.float64).reshape(len(chosen["time_stamps"]), -1)
    names, raw_units = _channels(info, x.shape[1])
    factors = [uv_per_unit(u) or float("nan") for u in raw_units]
    units = tuple("uV" if np.isfinite(f) else u for f, u in zip(factors, raw_units))
    emg = (x * np.nan_to_num(np.asarray(factors), nan=1.0)[None, :]).astype(np.float32)
    markers = tuple(
        XdfMarkers(_first(s["info"], "name"), _first(s["info"], "type"), np.asarray(s["time_stamps"], dtype=np.float64),
                   tuple(str(row[0]) for row in s["time_series"]))
        for s in streams if _first(s["info"], "channel_format") == "string" and len(s["time_stamps"])
    )
    return XdfSignal(np.ascontiguousarray(emg), np.asarray(chosen["time_stamps"], dtype=np.float64), fs_hz,
                     _first(info, "name"), _first(info, "type"), tuple(names), units, tuple(factors), markers, p)


def read_xdf(path: str | pathlib.Path, stream: str = DEFAULT_STREAM) -> WfdbRecording:
    """Read one numeric stream of an XDF file as float32 microvolts, with the markers as annotations.

    Parameters
    ----------
    path : str or path
        The ``.xdf`` file (LabRecorder output, gzip-compressed ``.xdfz`` too).
    stream : str
        Name of the stream, or its type when no stream has that name
        (case-insensitive; default ``"EMG"``, the LSL meta-data type for EMG;
        with the default, a file whose only regular-rate numeric stream is
        named and typed otherwise, e.g. the OpenBCI GUI's ``EEG``, gives that one).

    Returns
    -------
    WfdbRecording
        ``emg`` (n_samples, n_channels) float32 in microvolts (channel units
        V, mV, µV converted; other units kept as stored, ``to_uv`` NaN);
        ``fs_hz`` the stream's nominal rate; ``channel_names`` from the
        stream's ``desc/channels``; ``annotations`` one ``(sample, "+", text)``
        per marker of every string stream, on this stream's sample grid,
        in time order; ``comments`` name the stream and the marker streams.

    Raises
    ------
    MissingExtraError
        pyxdf is not installed (``pip install 'edgeemg[devices]'``).
    DataFormatError
        The file is missing or unreadable, no (or more than one) numeric
        stream matches ``stream`` (the message lists the streams found), or
        the stream has an irregular rate (0 Hz: events, not a signal).

    Examples
    --------
    >>> rec = read_xdf("sub-01_task-walk.xdf", stream="EMG")  # doctest: +SKIP
    >>> rec.emg.shape, rec.fs_hz, rec.annotations[:1]          # doctest: +SKIP
    ((120000, 8), 2000.0, ((5003, '+', '(walk'),))
    """
    sig = read_xdf_streams(path, stream)
    marks = [(float(t), int(i), text) for m in sig.markers
             for t, i, text in zip(m.stamps, sig.nearest_samples(m.stamps), m.values)]
    annotations = tuple((i, "+", text) for _t, i, text in sorted(marks, key=lambda m: m[0]))
    comments = (f"xdf stream: {sig.name}", f"type: {sig.type}", *(f"markers: {m.name}" for m in sig.markers))
    fields = {c.split(":", 1)[0]: c.split(":", 1)[1].strip() for c in comments}
    return WfdbRecording(
        emg=sig.x, fs_hz=sig.fs_hz, channel_names=sig.channel_names, units=sig.units, comments=comments,
        path=sig.path, to_uv=sig.to_uv, annotations=annotations, condition=muscle_condition(sig.path.stem, fields),
    )


__all__ = ["XDF_SUFFIX", "XdfMarkers", "XdfSignal", "read_xdf", "read_xdf_streams"]
