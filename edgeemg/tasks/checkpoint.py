"""One checkpoint format for every model, torch or not, loaded without pickle.

A checkpoint is a NumPy ``.npz`` archive: every parameter array under its
state-dict name, plus one entry ``__meta__`` holding a UTF-8 JSON document
(task, model name, model config, training config, DSP chain, labels, metrics,
history). ``numpy.load(..., allow_pickle=False)`` reads it, so neither the
training host nor a board ever unpickles a file it was handed, and an SVM's
support vectors travel in exactly the same container as a CNN's weights.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edgeemg.errors import CheckpointError

META_KEY = "__meta__"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: arrays by name and the JSON metadata."""

    task: str
    model: str
    arrays: dict[str, NDArray[Any]]
    meta: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | os.PathLike[str], ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` atomically to ``path`` (a temp file renamed into place)."""
    path = Path(path)
    if META_KEY in ckpt.arrays:
        raise CheckpointError(f"array name '{META_KEY}' is reserved for the checkpoint metadata")
    meta = dict(ckpt.meta, task=ckpt.task, model=ckpt.model, format_version=FORMAT_VERSION)
    blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{META_KEY: blob}, **{k: np.ascontiguousarray(v) for k, v in ckpt.arrays.items()})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike[str], *, task: str | None = None) -> Checkpoint:
    """Read a checkpoint without pickle; if ``task`` is given, refuse another task's file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist or is not a file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if META_KEY not in archive.files:
                raise CheckpointError(f"checkpoint '{path}' has no '{META_KEY}' entry: not an edgeemg checkpoint")
            meta = json.loads(archive[META_KEY].tobytes().decode("utf-8"))
            arrays = {k: archive[k] for k in archive.files if k != META_KEY}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"checkpoint '{path}' is unreadable (truncated or not an .npz archive): {exc}") from exc
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint '{path}' has format_version {meta.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    if task is not None and meta.get("task") != task:
        raise CheckpointError(f"checkpoint '{path}' is for task '{meta.get('task')}', expected '{task}'")
    return Checkpoint(task=meta["task"], model=meta["model"], arrays=arrays, meta=meta)
