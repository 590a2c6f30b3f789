"""PhysioNet WFDB records in and out, through the ``wfdb`` package.

Readers convert to the package layout at the file edge: ``(n_samples,
n_channels)`` float32 microvolts. Voltage units are recognised case-insensitively
(emgdb headers write ``mv`` in lower case in some records); channels are
matched by name after stripping whitespace and case (the walking dataset
writes ``semg LT TIB.A``, ``baso LT FOOT``).

Writers produce what :func:`read_wfdb` and ``wfdb.rdrecord`` both read:
format ``16`` (16-bit two's complement), baseline 0, and per channel an
``adc_gain`` (ADC units per mV) rounded *down* to three significant digits so
that the largest sample uses most of the 16-bit range and the gain prints
exactly in the header; the round-trip error is at most half an ADC step,
``0.5 / adc_gain`` mV. Ground truth travels as a WFDB annotation file
(``.gait``) and as ``key: value`` header comments.
"""

from __future__ import annotations

import logging
import math
import pathlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.data.recording import uv_per_unit
from edgeemg.errors import DataFormatError, require

logger = logging.getLogger(__name__)

GAIT_ANNOTATION_EXT = "gait"
# bytes per sample of the WFDB storage formats, for the truncation check
_BYTES_PER_SAMPLE = {"8": 1.0, "16": 2.0, "24": 3.0, "32": 4.0, "61": 2.0, "80": 1.0, "160": 2.0,
                     "212": 1.5, "310": 4.0 / 3.0, "311": 4.0 / 3.0}
_FULL_SCALE_ADU = 32000  # of 32767: headroom so rounding never overflows fmt 16


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class WfdbRecording:
    """One WFDB record, converted to the package layout.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, n_channels)
        Every channel; voltage channels in microvolts, others (unknown units)
        as stored. ``units`` says which.
    fs_hz : float
    channel_names, units : tuple of str
        Names as written; units after conversion (``"uV"`` for voltages).
    comments : tuple of str
        Header comment lines (without ``#``).
    path : pathlib.Path
        Record path without extension.
    to_uv : tuple of float
        Factor applied to each channel (NaN where the unit was not a voltage).
    annotations : tuple of (sample, symbol, aux_note), or None
        The ``.gait`` annotation file when present (simulator ground truth).
    condition : str or None
        Muscle-health class from the comments or the record name, when present.
    """

    emg: NDArray[np.float32]
    fs_hz: float
    channel_names: tuple[str, ...]
    units: tuple[str, ...]
    comments: tuple[str, ...]
    path: pathlib.Path
    to_uv: tuple[float, ...]
    annotations: tuple[tuple[int, str, str], ...] | None = None
    condition: str | None = None

    @property
    def fs(self) -> float:
        return self.fs_hz

    @property
    def source(self) -> str:
        """The file to name in a message: the ``.hea`` header of a WFDB record, the ``.xdf`` file itself."""
        return str(self.path) if self.path.suffix.lower() == ".xdf" else f"{self.path}.hea"

    def comment_fields(self) -> dict[str, str]:
        """``key: value`` header comments as a dict (keys lower-cased)."""
        out = {}
        for c in self.comments:
            if ":" in c:
                k, v = c.split(":", 1)
                out[k.strip().lower()] = v.strip()
        return out


def _record_path(record_path: str | pathlib.Path) -> pathlib.Path:
    p = pathlib.Path(record_path)
    if p.suffix in (".hea", ".dat"):
        p = p.with_suffix("")
    return p


def _check_files(path: pathlib.Path) -> Any:
    wfdb = require("wfdb", "reading WFDB records")

    hea = path.parent / (path.name + ".hea")
    if not hea.is_file():
        raise DataFormatError(f"WFDB header not found: expected {hea}, which does not exist")
    try:
        header = wfdb.rdheader(str(path))
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on bad headers
        raise DataFormatError(f"{hea}: unreadable WFDB header ({type(exc).__name__}: {exc})") from exc
    files = list(header.file_name or [])
    for fname in dict.fromkeys(files):
        dat = path.parent / fname
        if not dat.is_file():
            raise DataFormatError(f"{hea}: signal file {dat} named in the header does not exist")
        chans = [i for i, f in enumerate(files) if f == fname]
        bps = [_BYTES_PER_SAMPLE.get(str(header.fmt[i])) for i in chans]
        if None in bps or header.sig_len is None:
            continue
        offset = max(int(header.byte_offset[i] or 0) for i in chans) if header.byte_offset else 0
        need = offset + math.ceil(header.sig_len * sum(bps))  # type: ignore[arg-type]
        have = dat.stat().st_size
        if have < need:
            raise DataFormatError(
                f"{dat}: truncated signal file: the header promises {header.sig_len} samples x {len(chans)} "
                f"channels in fmt {header.fmt[chans[0]]} ({need} bytes), found {have} bytes"
            )
    return header


def muscle_condition(name: str, fields: dict[str, str]) -> str | None:
    """Muscle-health class from a ``condition:``/``class:``/``diagnosis:`` comment, else the record or file name."""
    text = fields.get("condition") or fields.get("class") or fields.get("diagnosis") or name
    t = text.lower()
    if any(k in t for k in ("neuropath", "neurogenic", "als")):
        return "als"
    if "myo" in t:
        return "myopathy"
    if any(k in t for k in ("healthy", "normal")) or re.match(r"^nor\d", t):
        return "normal"
    return None


def read_wfdb(record_path: str | pathlib.Path) -> WfdbRecording:
    """Read a WFDB record (``.hea`` + ``.dat``) into float32 microvolts.

    Parameters
    ----------
    record_path : str or path
        Record path with or without the ``.hea``/``.dat`` extension.

    Returns
    -------
    WfdbRecording

    Raises
    ------
    DataFormatError
        The header or a signal file is missing, unreadable or truncated.

    Examples
    --------
    >>> rec = read_wfdb("S01")  # doctest: +SKIP
    >>> rec.emg.shape, rec.fs_hz  # doctest: +SKIP
    ((240000, 8), 2000.0)
    """
    wfdb = require("wfdb", "reading WFDB records")

    path = _record_path(record_path)
    _check_files(path)
    try:
        rec = wfdb.rdrecord(str(path), physical=True)
    except Exception as exc:
        raise DataFormatError(f"{path}: wfdb could not read the record ({type(exc).__name__}: {exc})") from exc
    sig = rec.p_signal if rec.p_signal is not None else np.zeros((0, rec.n_sig))
    names = tuple(str(n) for n in (rec.sig_name or []))
    raw_units = list(rec.units or [""] * len(names))
    factors, units = [], []
    for u in raw_units:
        f = uv_per_unit(str(u))
        factors.append(float("nan") if f is None else f)
        units.append(str(u) if f is None else "uV")
    scale = np.array([1.0 if math.isnan(f) else f for f in factors])
    emg = (np.asarray(sig, dtype=np.float64) * scale[None, :]).astype(np.float32)
    comments = tuple(str(c).strip() for c in (rec.comments or []))
    annotations = None
    ann_file = path.parent / f"{path.name}.{GAIT_ANNOTATION_EXT}"
    if ann_file.is_file():
        try:
            ann = wfdb.rdann(str(path), GAIT_ANNOTATION_EXT)
        except Exception as exc:
            raise DataFormatError(f"{ann_file}: unreadable annotation file ({type(exc).__name__}: {exc})") from exc
        aux = ann.aux_note or [""] * len(ann.sample)
        annotations = tuple((int(s), str(y), str(a).strip("\x00 ")) for s, y, a in zip(ann.sample, ann.symbol, aux))
    out = WfdbRecording(
        emg=emg, fs_hz=float(rec.fs), channel_names=names, units=tuple(units), comments=comments,
        path=path, to_uv=tuple(factors), annotations=annotations,
    )
    return WfdbRecording(**{**out.__dict__, "condition": muscle_condition(path.name, out.comment_fields())})


def read_record(path: str | pathlib.Path) -> WfdbRecording:
    """A WFDB record, or the ``EMG`` stream of an XDF file (``.xdf`` suffix) with its markers as annotations."""
    if pathlib.Path(path).suffix.lower() == ".xdf":
        from edgeemg.data.xdf_io import read_xdf

        return read_xdf(path)
    return read_wfdb(path)


def find_records(paths: str | pathlib.Path | Iterable[str | pathlib.Path]) -> list[pathlib.Path]:
    """Expand files and folders into WFDB record paths (without extension) and XDF files, sorted per folder.

    A folder contributes every ``*.hea`` and ``*.xdf`` below it; a file may be
    given with or without ``.hea``/``.dat``, or as an ``.xdf`` file (read by
    :func:`read_record`). This is what the CLI's ``--data`` accepts.

    Raises
    ------
    DataFormatError
        A path does not exist, or a folder holds no ``.hea`` file.
    """
    if isinstance(paths, (str, pathlib.Path)):
        paths = [paths]
    out: list[pathlib.Path] = []
    for raw in paths:
        p = pathlib.Path(raw)
        if p.is_dir():
            found = sorted([h.with_suffix("") for h in p.rglob("*.hea")] + list(p.rglob("*.xdf")))
            if not found:
                raise DataFormatError(f"{p}: folder holds no WFDB record or XDF file (no *.hea or *.xdf below it)")
            out.extend(found)
            continue
        if p.suffix.lower() == ".xdf":
            if not p.is_file():
                raise DataFormatError(f"{p}: no such XDF file")
            out.append(p)
            continue
        rp = _record_path(p)
        if not (rp.parent / (rp.name + ".hea")).is_file():
            raise DataFormatError(f"{p}: no such WFDB record (expected {rp}.hea)")
        out.append(rp)
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- writing


def _adc_gain(x_phys: NDArray[np.float64]) -> list[float]:
    """ADC units per physical unit, rounded down to 3 significant digits (exact in the header)."""
    gains = []
    for col in x_phys.T:
        peak = float(np.nanmax(np.abs(col))) if col.size else 0.0
        g = _FULL_SCALE_ADU / peak if peak > 0 else 1000.0
        e = math.floor(math.log10(g)) - 2
        gains.append(math.floor(g / 10.0**e) * 10.0**e)
    return [float(f"{g:.3g}") for g in gains]


def write_record(
    path: pathlib.Path, x_phys: NDArray, *, fs_hz: float, names: Sequence[str], units: Sequence[str],
    comments: Sequence[str] = (),
) -> pathlib.Path:
    """Write ``x_phys`` (n_samples, n_channels, in ``units``) as WFDB fmt 16, baseline 0."""
    wfdb = require("wfdb", "writing WFDB records")

    path = pathlib.Path(path)
    x = np.asarray(x_phys, dtype=np.float64)
    gains = _adc_gain(x)
    d = np.round(x * np.array(gains)[None, :]).astype(np.int64)
    wfdb.wrsamp(
        path.name, fs=float(fs_hz), units=list(units), sig_name=list(names), d_signal=d.astype(np.int16),
        fmt=["16"] * x.shape[1], adc_gain=gains, baseline=[0] * x.shape[1], comments=list(comments),
        write_dir=str(path.parent),
    )
    return path
