"""One exception hierarchy for the whole SDK.

Every error carries a stable ``code`` (like BrainFlow's exit codes) so that a
daemon or a script can branch on it, and a message that says *why*: what was
expected, what arrived, and where (file, field, byte offset, frame number).

``str(error)`` is the message alone, so wrapping one error's text in another's
never doubles a prefix. The command line prints ``edgeemg VERB: <label>: message``
(:func:`describe`) and exits with :attr:`EdgeEmgError.exit_code`: 2 for a usage
error (an invalid argument, option or config value), 1 for every other failure.
The numeric ``code`` is for programs that catch the exception; it is never an
exit status.

The classes that describe bad input also derive from ``ValueError`` so that
callers who only know the standard library can still catch them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import asdict
from enum import IntEnum
from types import ModuleType
from typing import Any, ClassVar, Self


class ErrorCode(IntEnum):
    """Stable numeric codes; never renumber, only append."""

    GENERIC = 1
    INVALID_INPUT = 2
    DATA_FORMAT = 3
    PROTOCOL = 4
    DEVICE = 5
    BUNDLE = 6
    EXPORT = 7
    CHECKPOINT = 8
    MISSING_EXTRA = 9


#: Exit statuses of the ``edgeemg`` command (README "Command line").
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class EdgeEmgError(Exception):
    """Base class of every error edgeemg raises on purpose."""

    code: ErrorCode = ErrorCode.GENERIC
    exit_code: int = EXIT_FAILURE

    @property
    def label(self) -> str:
        """What kind of failure this is, as the command line names it ("device error", "usage error")."""
        return "usage error" if self.exit_code == EXIT_USAGE else f"{self.code.name.lower().replace('_', ' ')} error"


class InvalidInputError(EdgeEmgError, ValueError):
    """An argument or array has the wrong shape, dtype, range or value."""

    code = ErrorCode.INVALID_INPUT
    exit_code = EXIT_USAGE


class DataFormatError(EdgeEmgError, ValueError):
    """A file on disk is missing a field, truncated, or inconsistent; the message names the file."""

    code = ErrorCode.DATA_FORMAT


class ProtocolError(EdgeEmgError, ValueError):
    """A serial frame or stream violates firmware_bridge/PROTOCOL.md."""

    code = ErrorCode.PROTOCOL


class DeviceError(EdgeEmgError):
    """A band or serial port cannot be opened, read, or disagrees with the bundle."""

    code = ErrorCode.DEVICE


class BundleError(EdgeEmgError, ValueError):
    """An exported bundle is tampered, incomplete, or does not match the band."""

    code = ErrorCode.BUNDLE


class ExportError(EdgeEmgError):
    """The export chain refused to produce a bundle (e.g. int8 lost too much accuracy)."""

    code = ErrorCode.EXPORT


class CheckpointError(EdgeEmgError, ValueError):
    """A training checkpoint is unreadable or belongs to another task or model."""

    code = ErrorCode.CHECKPOINT


class MissingExtraError(EdgeEmgError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""

    code = ErrorCode.MISSING_EXTRA


#: Top-level module -> the extra of ``pip install 'edgeemg[EXTRA]'`` that installs it. A board
#: installs the core only (runtime, DSP, simulators); training, export and file readers need more.
EXTRA_OF_MODULE = {
    "torch": "train",
    "torchao": "train",
    "onnx": "train",
    "onnxscript": "train",
    "sklearn": "train",
    "matplotlib": "train",
    "litert_torch": "train",
    "wfdb": "formats",
    "h5py": "formats",
    "ai_edge_litert": "tflite",
    "brainflow": "devices",
    "pylsl": "devices",
    "pyxdf": "devices",
}


def reject_unknown_keys(config_class: type, d: Mapping[str, Any]) -> None:
    """Refuse keys that the config dataclass ``config_class`` does not have, naming them and the allowed ones.

    Every ``from_dict`` of a manifest or recipe config calls this first: a misspelt key must be an
    error, not a silently ignored option (onnxruntime's ``extra_options`` shows the cost).
    """
    fields = config_class.__dataclass_fields__  # type: ignore[attr-defined]
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise InvalidInputError(f"{config_class.__name__}: unknown key(s) {unknown}; allowed {sorted(fields)}")


class DictConfig:
    """Mixin of a frozen config dataclass stored as a JSON object (bundle manifest, checkpoint meta).

    ``to_dict`` is :func:`dataclasses.asdict` with the tuple fields named in ``LIST_FIELDS``
    written as JSON lists; ``from_dict`` refuses unknown keys (:func:`reject_unknown_keys`),
    turns those fields back into tuples and calls the constructor, whose ``__post_init__``
    checks the values. One copy, so every config reads and writes its dict the same way.
    """

    LIST_FIELDS: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form: every field, tuples in ``LIST_FIELDS`` as lists."""
        d = asdict(self)  # type: ignore[call-overload]
        for name in self.LIST_FIELDS:
            d[name] = list(d[name])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_dict`; an unknown key is an :class:`InvalidInputError` naming the allowed ones."""
        reject_unknown_keys(cls, d)
        return cls(**{k: tuple(v) if k in cls.LIST_FIELDS else v for k, v in d.items()})


def missing_extra(exc: ModuleNotFoundError, needed_for: str) -> MissingExtraError | None:
    """The error to show for ``exc`` when an extra provides the missing module, else None."""
    module = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    return MissingExtraError(
        f"{needed_for} needs the '{module}' package, which this install of edgeemg leaves out "
        f"(a board install has the runtime only); install it with: pip install 'edgeemg[{extra}]'"
    )


def require(module: str, needed_for: str) -> ModuleType:
    """Import an optional dependency, or raise :class:`MissingExtraError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        error = missing_extra(exc, needed_for)
        if error is None:
            raise
        raise error from None


def describe(exc: BaseException) -> str:
    """One line for the command line: ``"<label>: <message>"`` (the label once, whatever wrapped what)."""
    if isinstance(exc, EdgeEmgError):
        return f"{exc.label}: {exc}"
    return f"error: {exc}"
