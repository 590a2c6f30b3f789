"""DEMUSE-style HD-EMG ``.mat`` files: the grid's signals plus motor-unit discharge truth.

DEMUSE (Holobar's decomposition tool, used by seed ``004_*``) and tools that
read its files (e.g. openhdemg's ``emg_from_demuse``) store one MATLAB file per
recording with:

``SIG``
    rows x columns cell array; ``SIG{r,c}`` is the 1-D signal of the electrode
    in row r, column c; a missing electrode is an empty cell.
``fsamp``, ``IED``, ``montage``, ``signal_length``
    sampling rate (Hz), inter-electrode distance (mm), ``'MONO'`` or ``'SD'``,
    number of samples.
``MUPulses``
    1 x n_units cell array of discharge sample indices, **1-based** (MATLAB).
``IPTs``
    n_units x n_samples innervation pulse trains (the decomposition's source
    estimates; a simulator writes its binary true spike trains).

The in-memory form follows the package convention instead: ``emg`` is
``(n_samples, n_channels)`` float32 in row-major grid order, missing cells
skipped, and discharges are 0-based. DEMUSE files do not say their units:
:func:`write_demuse` writes microvolts and :func:`read_demuse` returns the
numbers as stored. Files are MATLAB v5 (what ``scipy.io`` writes and reads);
v7.3 (HDF5) files are refused with a message saying so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from numpy.typing import NDArray

from edgeemg.errors import DataFormatError, InvalidInputError

logger = logging.getLogger(__name__)

# Grids this writer knows: channel count -> (rows, columns, montage, missing cells).
# 64 = the 13 x 5 monopolar grid without its (1,1) corner; 59 = its single
# differentials along the 13-electrode rows (12 x 5 pairs, the one touching the corner dropped).
_GRIDS: dict[int, tuple[int, int, str, tuple[tuple[int, int], ...]]] = {
    64: (13, 5, "MONO", ((0, 0),)),
    59: (12, 5, "SD", ((0, 0),)),
}
_RESERVED = ("SIG", "fsamp", "IED", "montage", "signal_length", "MUPulses", "IPTs")


@dataclass(frozen=True, eq=False)
class DemuseRecording:
    """One DEMUSE-style recording in the package's layout.

    Attributes
    ----------
    emg : ndarray of float32, shape (n_samples, n_channels)
        Signals of the non-empty SIG cells, row-major (R01C2, R01C3, ..., R13C5).
    fs_hz : float
    ied_mm : float or None
        None when the file has no ``IED``.
    discharges : tuple of ndarray of int64
        0-based discharge sample indices per unit (``MUPulses - 1``); empty when the file has none.
    ipts : ndarray of float64, shape (n_units, n_samples), or None
    channel_names : tuple of str
        ``R{row:02d}C{col}``, 1-based as in ``SIG{r,c}``.
    path : Path
    montage : str
        ``"MONO"`` or ``"SD"`` (``"MONO"`` when the file does not say).
    grid_shape : tuple of int
        (rows, columns) of ``SIG``.
    meta : dict
        Every other top-level variable (e.g. ``ref_signal``, ``MUIDs``), squeezed.
    """

    emg: NDArray[np.float32]
    fs_hz: float
    ied_mm: float | None
    discharges: tuple[NDArray[np.int64], ...]
    ipts: NDArray[np.float64] | None
    channel_names: tuple[str, ...]
    path: Path
    montage: str = "MONO"
    grid_shape: tuple[int, int] = (13, 5)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        return len(self.discharges)


def write_demuse(
    path: str | Path,
    emg: NDArray[np.float32],
    fs_hz: float,
    discharges: list[NDArray[np.int64]] | tuple[NDArray[np.int64], ...],
    *,
    ied_mm: float = 8.0,
    ipts: NDArray[np.floating] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a DEMUSE-style ``.mat`` file (MATLAB v5, compressed).

    Parameters
    ----------
    path : str or Path
    emg : ndarray, shape (n_samples, 64) or (n_samples, 59)
        Microvolts of the 13 x 5 grid (monopolar, the (1,1) corner missing) or its
        59 single differentials; stored as single precision, so float32 input
        reads back bit for bit.
    fs_hz : float
    discharges : sequence of int arrays
        0-based discharge sample indices per unit; stored 1-based as ``MUPulses``.
    ied_mm : float
    ipts : ndarray, shape (n_units, n_samples), optional
        Pulse trains; omitted from the file when None.
    meta : dict, optional
        Extra top-level variables (names must be valid MATLAB identifiers and
        not one of SIG, fsamp, IED, montage, signal_length, MUPulses, IPTs).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidInputError
        A shape, channel count, discharge index or meta name that the format cannot hold.
    """
    path = Path(path)
    emg = np.asarray(emg)
    if emg.ndim != 2 or emg.shape[1] not in _GRIDS:
        raise InvalidInputError(
            f"write_demuse: emg must be (n_samples, 64) monopolar or (n_samples, 59) single-differential "
            f"for the 13x5 grid, got shape {emg.shape}"
        )
    n_samples = emg.shape[0]
    rows, cols, montage, missing = _GRIDS[emg.shape[1]]
    if not fs_hz > 0:
        raise InvalidInputError(f"write_demuse: fs_hz must be > 0, got {fs_hz}")
    sig = np.empty((rows, cols), dtype=object)
    ch = 0
    for r in range(rows):
        for c in range(cols):
            if (r, c) in missing:
                sig[r, c] = np.zeros((0, 0))
            else:
                sig[r, c] = np.ascontiguousarray(emg[:, ch], dtype=np.float32)
                ch += 1
    pulses = np.empty((1, len(discharges)), dtype=object)
    for i, d in enumerate(discharges):
        d = np.asarray(d)
        if d.ndim != 1 or (d.size and (not np.issubdtype(d.dtype, np.integer) or d.min() < 0 or d.max() >= n_samples)):
            raise InvalidInputError(
                f"write_demuse: discharges[{i}] must be 1-D integer sample indices in [0, {n_samples}), "
                f"got dtype {d.dtype}, shape {d.shape}" + (f", range [{d.min()}, {d.max()}]" if d.size else "")
            )
        pulses[0, i] = (d.astype(np.float64) + 1.0).reshape(1, -1)
    variables: dict[str, Any] = {
        "SIG": sig,
        "fsamp": float(fs_hz),
        "IED": float(ied_mm),
        "montage": montage,
        "signal_length": float(n_samples),
        "MUPulses": pulses,
    }
    if ipts is not None:
        ipts = np.asarray(ipts)
        if ipts.shape != (len(discharges), n_samples):
            raise InvalidInputError(
                f"write_demuse: ipts must have shape (n_units, n_samples) = {(len(discharges), n_samples)}, got {ipts.shape}"
            )
        variables["IPTs"] = ipts
    for key, value in (meta or {}).items():
        if key in _RESERVED or not key.isidentifier() or key.startswith("_"):
            raise InvalidInputError(
                f"write_demuse: meta key {key!r} is reserved or not a MATLAB variable name (reserved: {', '.join(_RESERVED)})"
            )
        variables[key] = value
    scipy.io.savemat(path, variables, do_compression=True, oned_as="row")
    logger.debug("wrote %s: %d samples x %d channels, %d units", path, n_samples, emg.shape[1], len(discharges))
    return path


def _fail(path: Path, what: str) -> DataFormatError:
    return DataFormatError(f"{path}: {what}")


def _scalar(mat: dict[str, Any], name: str, path: Path, *, required: bool) -> float | None:
    if name not in mat:
        if required:
            raise _fail(path, f"missing field '{name}' (DEMUSE files carry SIG, fsamp, IED, MUPulses)")
        return None
    value = np.asarray(mat[name])
    if value.size != 1 or not np.issubdtype(value.dtype, np.number):
        raise _fail(path, f"field '{name}' must be one number, got dtype {value.dtype} shape {value.shape}")
    return float(value.ravel()[0])


def _cells(value: Any) -> list[Any]:
    """Entries of a MATLAB cell array (any shape, column-major like MATLAB's linear index)."""
    arr = np.asarray(value)
    if arr.dtype == object:
        return list(arr.ravel(order="F"))
    return [arr] if arr.size else []  # one unit saved as a plain vector


def read_demuse(path: str | Path, *, n_channels: int | None = None) -> DemuseRecording:
    """Read a DEMUSE-style ``.mat`` file with ``scipy.io.loadmat``.

    Parameters
    ----------
    path : str or Path
    n_channels : int, optional
        Expected number of non-empty SIG cells (64 for the 13 x 5 grid); a
        different count raises instead of reaching a model trained on another grid.

    Returns
    -------
    DemuseRecording

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    DataFormatError
        Not a MATLAB v5 file or truncated; SIG or fsamp missing; SIG not a cell
        array; cells of different lengths; MUPulses outside ``1..n_samples`` or
        not integers; IPTs not ``(len(MUPulses), n_samples)``; a channel-count
        mismatch. The message names the file and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DEMUSE file not found: {path}")
    try:
        mat = scipy.io.loadmat(path, squeeze_me=False)
    except NotImplementedError as exc:  # scipy's answer to v7.3
        raise _fail(path, f"MATLAB v7.3 (HDF5) files are not supported; save with -v7 ({exc})") from exc
    except Exception as exc:  # truncated or corrupt: scipy raises ValueError, OSError, zlib.error, ...
        raise _fail(path, f"not a readable MATLAB v5 file, truncated or corrupt ({type(exc).__name__}: {exc})") from exc

    if "SIG" not in mat:
        raise _fail(path, "missing field 'SIG' (the rows x columns cell array of channel signals)")
    sig = np.asarray(mat["SIG"])
    if sig.dtype != object or sig.ndim != 2:
        raise _fail(path, f"field 'SIG' must be a 2-D cell array, got dtype {sig.dtype} shape {sig.shape}")
    fs_hz = _scalar(mat, "fsamp", path, required=True)
    if not fs_hz or fs_hz <= 0:
        raise _fail(path, f"field 'fsamp' must be > 0 Hz, got {fs_hz}")
    ied_mm = _scalar(mat, "IED", path, required=False)

    columns: list[NDArray[np.float32]] = []
    names: list[str] = []
    n_samples: int | None = None
    for r in range(sig.shape[0]):
        for c in range(sig.shape[1]):
            cell = np.asarray(sig[r, c])
            if cell.size == 0:
                continue
            if cell.dtype == object or not np.issubdtype(cell.dtype, np.number) or min(cell.shape) != 1:
                raise _fail(path, f"SIG{{{r + 1},{c + 1}}} must be a numeric vector, got dtype {cell.dtype} shape {cell.shape}")
            x = cell.ravel()
            if n_samples is None:
                n_samples = x.size
            elif x.size != n_samples:
                raise _fail(path, f"SIG{{{r + 1},{c + 1}}} has {x.size} samples, the channels before it {n_samples}")
            columns.append(x.astype(np.float32, copy=False))
            names.append(f"R{r + 1:02d}C{c + 1}")
    if n_samples is None:
        raise _fail(path, "field 'SIG' has no non-empty cell")
    if n_channels is not None and len(columns) != n_channels:
        raise _fail(path, f"expected {n_channels} channels (non-empty SIG cells), found {len(columns)} in a {sig.shape} grid")
    length = _scalar(mat, "signal_length", path, required=False)
    if length is not None and int(length) != n_samples:
        raise _fail(path, f"field 'signal_length' says {int(length)} samples but SIG cells hold {n_samples}")
    emg = np.stack(columns, axis=1)

    discharges: list[NDArray[np.int64]] = []
    for i, cell in enumerate(_cells(mat["MUPulses"]) if "MUPulses" in mat else []):
        p = np.asarray(cell, dtype=np.float64).ravel() if np.asarray(cell).size else np.zeros(0)
        if p.size and (np.any(p != np.round(p)) or p.min() < 1 or p.max() > n_samples):
            raise _fail(
                path,
                f"MUPulses{{{i + 1}}} must hold 1-based integer sample indices in [1, {n_samples}], "
                f"got range [{p.min()}, {p.max()}]",
            )
        discharges.append(p.astype(np.int64) - 1)

    ipts = None
    if "IPTs" in mat:
        ipts = np.asarray(mat["IPTs"], dtype=np.float64)
        if ipts.ndim == 2 and ipts.size == 0:
            ipts = None
        elif ipts.ndim != 2 or ipts.shape[1] != n_samples or (discharges and ipts.shape[0] != len(discharges)):
            raise _fail(
                path, f"field 'IPTs' must be (n_units, n_samples) = ({len(discharges)}, {n_samples}), got {ipts.shape}"
            )

    montage = "MONO"
    if "montage" in mat and np.asarray(mat["montage"]).size:
        montage = str(np.asarray(mat["montage"]).ravel()[0]).strip().upper()
    meta = {k: _squeeze(v) for k, v in mat.items() if not k.startswith("__") and k not in _RESERVED}
    return DemuseRecording(
        emg=emg,
        fs_hz=fs_hz,
        ied_mm=ied_mm,
        discharges=tuple(discharges),
        ipts=ipts,
        channel_names=tuple(names),
        path=path,
        montage=montage,
        grid_shape=(int(sig.shape[0]), int(sig.shape[1])),
        meta=meta,
    )


def _squeeze(value: Any) -> Any:
    """MATLAB 1x1 numbers and char arrays to Python scalars and str; other arrays squeezed."""
    arr = np.asarray(value)
    if arr.dtype.kind == "U":
        return "".join(arr.ravel().tolist())
    if arr.size == 1 and np.issubdtype(arr.dtype, np.number):
        return arr.ravel()[0].item()
    return np.squeeze(arr)
