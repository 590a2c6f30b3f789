"""The bundle: what ``edgeemg export`` writes and the board loads (numpy-free, torch-free).

A bundle is one folder::

    gait.int8/
      manifest.json          # everything the board needs to know, canonical JSON
      model.fp32.onnx        # onnxruntime-optimised float graph
      model.int8.onnx        # QDQ int8 (static, per-channel), optimised
      model.fp32.tflite      # litert-torch
      model.int8.tflite      # litert-torch PT2E int8 (when it could be made)
      golden.npz             # golden vectors: a few inputs (+ state) and PyTorch's outputs for them

Self-check
----------
The hashes prove the files are the exported ones, not that this CPU's int8
kernels compute what the export host's did (they differ between x86 AVX2,
AVX-512 VNNI and arm64). So :func:`load_bundle` also runs the golden vectors
through the model it is asked for (``precision``) and refuses a bundle that
decodes differently here (:mod:`edgeemg.runtime.selfcheck`; the engine repeats
the check on its own backend when that is another one, e.g. TensorRT).

Integrity
---------
``manifest.json["files"]`` holds the sha256 and size of every other file, and
``manifest.json["manifest_sha256"]`` the sha256 of the manifest's canonical
JSON *without* that key. The manifest is written in exactly one canonical form
(:func:`canonical_json`), so :func:`load_bundle` can also refuse a manifest whose
bytes differ from the canonical form of what they parse to: a flipped byte
anywhere in the folder, whitespace included, is caught and named.

Why the manifest hashes itself instead of a detached ``manifest.sha256`` file:
the pair could be replaced together just as easily, and one file is simpler to
copy. A deployment that wants a pin from outside passes ``expected_sha256``
(e.g. from a fleet database) to :func:`load_bundle`.

This module imports only the standard library, so a board can verify a bundle's
hashes (``precision=None``) before numpy, scipy or onnxruntime are even loaded.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgeemg.errors import BundleError

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
BUNDLE_FORMAT = "edgeemg-bundle"
BUNDLE_FORMAT_VERSION = 1
HASH_KEY = "manifest_sha256"

#: Top-level manifest keys the runtime relies on; :func:`validate_manifest` refuses a manifest without them.
REQUIRED_KEYS: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "format_version": int,
    "task": str,
    "model": str,
    "fs_hz": (int, float),
    "n_channels": int,
    "channel_names": list,
    "dsp": list,
    "window": int,
    "hop": int,
    "labels": list,
    "input": dict,
    "outputs": list,
    "state": list,
    "decoder": dict,
    "decoder_class": str,
    "algorithmic_latency_ms": (int, float),
    "artifacts": dict,
    "quantization": dict,
    "metrics": dict,
    "files": dict,
}
"""Schema of the manifest (version 1), key -> JSON type.

``input``: ``{"name", "shape" (None = batch), "dtype", "layout"}`` of the model input
(one DSP item per batch row). ``outputs``: list of ``{"name", "shape", "dtype", "kind"}``.
``state``: tensors carried from one call to the next, ``{"input", "output", "shape",
"dtype", "init": "zeros"}`` (empty for window classifiers; streaming keystroke and
motor-unit models list theirs). ``decoder``: the board-side decoder's config, so that
``DecoderClass.from_manifest(manifest)`` works on the manifest as is. ``decoder_class``:
``"module:Class"``. ``artifacts``: name (``onnx-int8`` ...) -> ``{"file", "format",
"precision", "io": {input/output dtype and int8 scale/zero point where quantized},
"quantization", "parity", "metric"}`` or ``{"status": "unavailable", "reason"}``.
"""


def canonical_json(obj: Any) -> bytes:
    """The one byte form a manifest is written in: sorted keys, 2-space indent, ASCII, trailing newline."""
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (a bundle's model can be tens of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def manifest_hash(manifest: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``manifest`` without its ``manifest_sha256`` key."""
    body = {k: v for k, v in manifest.items() if k != HASH_KEY}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def seal_manifest(manifest: dict[str, Any], folder: str | os.PathLike[str]) -> bytes:
    """Fill ``files`` (sha256 + bytes of every file in ``folder`` but the manifest) and the manifest hash.

    Returns the canonical bytes to write as ``manifest.json``. Used by the
    exporter; lives here so that writer and reader share one definition.
    """
    folder = Path(folder)
    files = {}
    for p in sorted(folder.iterdir()):
        if p.name == MANIFEST_NAME:
            continue
        if not p.is_file():
            raise BundleError(f"bundle folder {folder}: '{p.name}' is not a plain file; bundles are flat folders")
        files[p.name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    sealed = dict(manifest, files=files)
    sealed.pop(HASH_KEY, None)
    sealed[HASH_KEY] = manifest_hash(sealed)
    return canonical_json(sealed)


def validate_manifest(manifest: Any, source: str) -> None:
    """Check the manifest's schema (keys, JSON types, format version); errors name ``source`` and the key."""
    if not isinstance(manifest, dict):
        raise BundleError(f"{source}: manifest must be a JSON object, got {type(manifest).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise BundleError(f"{source}: manifest lacks key(s) {missing}")
    for key, typ in REQUIRED_KEYS.items():
        value = manifest[key]
        if isinstance(value, bool) or not isinstance(value, typ):
            want = " or ".join(t.__name__ for t in (typ if isinstance(typ, tuple) else (typ,)))
            raise BundleError(f"{source}: manifest key '{key}' must be {want}, got {type(value).__name__} {value!r:.60}")
    if manifest["format"] != BUNDLE_FORMAT:
        raise BundleError(f"{source}: format is {manifest['format']!r}, expected {BUNDLE_FORMAT!r}")
    if manifest["format_version"] != BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"{source}: format_version {manifest['format_version']} is not supported by this runtime "
            f"(expected {BUNDLE_FORMAT_VERSION}); re-export the bundle or upgrade edgeemg"
        )
    if len(manifest["channel_names"]) != manifest["n_channels"]:
        raise BundleError(
            f"{source}: n_channels is {manifest['n_channels']} but channel_names lists "
            f"{len(manifest['channel_names'])} names"
        )
    if not manifest["fs_hz"] > 0:
        raise BundleError(f"{source}: fs_hz must be > 0, got {manifest['fs_hz']}")
    if ":" not in manifest["decoder_class"]:
        raise BundleError(f"{source}: decoder_class must read 'module:Class', got {manifest['decoder_class']!r}")
    for name, art in manifest["artifacts"].items():
        if art.get("status", "ok") == "ok" and art.get("file") not in manifest["files"]:
            raise BundleError(f"{source}: artifact '{name}' names file {art.get('file')!r}, which 'files' does not list")


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its folder and its manifest (a plain dict, read-only by convention).

    Build with :func:`load_bundle`; the constructor checks nothing.
    """

    path: Path
    manifest: dict[str, Any]
    self_check: Any = None
    """The :class:`~edgeemg.runtime.selfcheck.SelfCheck` :func:`load_bundle` ran (None: not run, or no golden file)."""

    # -- the fields a runtime reads, under names that carry units
    @property
    def task(self) -> str:
        return str(self.manifest["task"])

    @property
    def fs_hz(self) -> float:
        return float(self.manifest["fs_hz"])

    @property
    def n_channels(self) -> int:
        return int(self.manifest["n_channels"])

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["channel_names"])

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.manifest["labels"])

    @property
    def dsp(self) -> list[dict[str, Any]]:
        """The DSP description, for :meth:`edgeemg.dsp.Pipeline.from_description`."""
        return json.loads(json.dumps(self.manifest["dsp"]))  # a copy the caller may mutate

    @property
    def window(self) -> int:
        return int(self.manifest["window"])

    @property
    def hop(self) -> int:
        return int(self.manifest["hop"])

    @property
    def sha256(self) -> str:
        """The manifest hash, which pins every file of the bundle."""
        return str(self.manifest[HASH_KEY])

    def available_artifacts(self) -> list[str]:
        """Artifact names (``onnx-int8``, ``tflite-fp32`` ...) that have a file in this bundle."""
        return [k for k, a in self.manifest["artifacts"].items() if a.get("status", "ok") == "ok"]

    def artifact(self, fmt: str, precision: str = "int8") -> Path:
        """Path of the model file for ``fmt`` ("onnx" | "tflite") at ``precision`` ("int8" | "fp32").

        Raises
        ------
        BundleError
            When the bundle has no such artifact, with the reason the exporter
            recorded (e.g. why TFLite int8 could not be produced) and what it has.
        """
        name = f"{fmt}-{precision}"
        art = self.manifest["artifacts"].get(name)
        if art is None or art.get("status", "ok") != "ok":
            why = f": {art['reason']}" if art and art.get("reason") else ""
            raise BundleError(
                f"bundle {self.path} has no '{name}' model{why}; it has {self.available_artifacts()}"
            )
        return self.path / art["file"]

    def check_band(self, fs_hz: float, n_channels: int, channel_names: tuple[str, ...] | None = None) -> None:
        """Refuse a band whose sample rate, channel count or channel order differs from the bundle's."""
        if abs(float(fs_hz) - self.fs_hz) > 1e-6 * self.fs_hz:
            raise BundleError(
                f"bundle {self.path} expects {self.fs_hz:g} Hz but the band samples at {float(fs_hz):g} Hz"
            )
        if int(n_channels) != self.n_channels:
            raise BundleError(f"bundle {self.path} expects {self.n_channels} channels but the band has {n_channels}")
        if channel_names is not None and tuple(channel_names) != self.channel_names:
            raise BundleError(
                f"bundle {self.path} expects channels {list(self.channel_names)} in that order, "
                f"the band reports {list(channel_names)}"
            )

    def pipeline(self) -> Any:
        """A fresh streaming :class:`edgeemg.dsp.Pipeline` for this bundle (imports numpy and the DSP backend)."""
        from edgeemg.dsp import Pipeline

        return Pipeline.from_description(self.dsp, self.fs_hz, self.n_channels)

    def decoder(self) -> Any:
        """The task's board-side decoder, built with ``from_manifest`` (imports the task's torch-free module)."""
        module_name, _, cls_name = self.manifest["decoder_class"].partition(":")
        if not module_name.startswith("edgeemg.tasks.") or not module_name.endswith(".decoder"):
            raise BundleError(
                f"bundle {self.path}: decoder_class {self.manifest['decoder_class']!r} is not an edgeemg task "
                "decoder module (edgeemg.tasks.<task>.decoder); refusing to import it"
            )
        try:
            cls = getattr(importlib.import_module(module_name), cls_name)
        except (ImportError, AttributeError) as exc:
            raise BundleError(f"bundle {self.path}: cannot load decoder {self.manifest['decoder_class']!r}: {exc}") from exc
        import inspect

        # a decoder that reads files of its own from the bundle (the keystroke LM) takes the folder as `root`
        if "root" in inspect.signature(cls.from_manifest).parameters:
            return cls.from_manifest(self.manifest, root=self.path)
        return cls.from_manifest(self.manifest)


def _read_manifest(folder: Path) -> dict[str, Any]:
    mpath = folder / MANIFEST_NAME
    if not mpath.is_file():
        raise BundleError(f"{folder}: no {MANIFEST_NAME}; not an edgeemg bundle (export one with `edgeemg export`)")
    raw = mpath.read_bytes()
    try:
        manifest = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{mpath}: manifest is not valid JSON ({exc}); the file is damaged") from None
    if not isinstance(manifest, dict) or HASH_KEY not in manifest:
        raise BundleError(f"{mpath}: manifest has no '{HASH_KEY}'; it was not written by `edgeemg export`")
    try:
        canonical = canonical_json(manifest)
    except ValueError as exc:
        raise BundleError(f"{mpath}: manifest holds a non-JSON value ({exc})") from None
    if canonical != raw:
        at = next((i for i, (a, b) in enumerate(zip(raw, canonical)) if a != b), min(len(raw), len(canonical)))
        raise BundleError(f"{mpath}: manifest bytes differ from their canonical form at byte {at}; the file was modified")
    expected = manifest_hash(manifest)
    if manifest[HASH_KEY] != expected:
        raise BundleError(
            f"{mpath}: manifest hash mismatch: it records {str(manifest[HASH_KEY])[:16]}..., its content hashes to "
            f"{expected[:16]}...; the manifest was modified"
        )
    return manifest


def load_bundle(path: str | os.PathLike[str], *, expected_sha256: str | None = None,
                precision: str | None = "int8") -> Bundle:
    """Open a bundle folder and verify it before anything runs it.

    Parameters
    ----------
    path : path-like
        The bundle folder written by ``edgeemg export``.
    expected_sha256 : str, optional
        Pin: the manifest hash this deployment trusts (``edgeemg inspect``
        prints it). Without it, the bundle is checked for internal consistency.
    precision : {"int8", "fp32", None}
        Run the golden self-check of this precision's model on this CPU
        (onnxruntime's CPU provider if the bundle has that ONNX model, else
        TFLite); None checks the hashes only and imports nothing.

    Returns
    -------
    Bundle

    Raises
    ------
    BundleError
        Naming the file at fault: a manifest that is not canonical JSON or whose
        own hash is wrong, a schema violation (missing key, wrong type,
        channel count disagreeing with the channel names, unsupported format
        version), a listed file missing, with another size or sha256, or a file
        in the folder that the manifest does not list; or the golden self-check
        failing on this CPU (the message names the file, the measured and
        allowed error, the CPU's int8 features, the runtime version, and what
        to do).

    Notes
    -----
    Every file is hashed in full on every load (a few ms for a small model):
    a board that reads a bundle from an SD card sees bit rot too, not only
    tampering, and a wrong model that runs is worse than a refusal.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise BundleError(f"bundle '{folder}' does not exist or is not a folder")
    manifest = _read_manifest(folder)
    source = str(folder / MANIFEST_NAME)
    if expected_sha256 is not None and manifest[HASH_KEY] != expected_sha256:
        raise BundleError(
            f"{source}: manifest hash {manifest[HASH_KEY][:16]}... is not the expected {expected_sha256[:16]}..."
        )
    validate_manifest(manifest, source)
    listed = manifest["files"]
    present = {p.name for p in folder.iterdir() if p.name != MANIFEST_NAME}
    extra = sorted(present - set(listed))
    if extra:
        raise BundleError(f"{folder}: file(s) {extra} are not listed in {MANIFEST_NAME}; refusing a modified bundle")
    for name, entry in sorted(listed.items()):
        fpath = folder / name
        if not fpath.is_file():
            raise BundleError(f"{fpath}: listed in {MANIFEST_NAME} but missing")
        size = fpath.stat().st_size
        if size != entry.get("bytes"):
            raise BundleError(f"{fpath}: size is {size} bytes, the manifest records {entry.get('bytes')}")
        digest = sha256_file(fpath)
        if digest != entry.get("sha256"):
            raise BundleError(
                f"{fpath}: sha256 mismatch: expected {str(entry.get('sha256'))[:16]}..., got {digest[:16]}...; "
                "the file was modified or damaged"
            )
    log.debug("bundle %s verified (%d files, manifest %s)", folder, len(listed), manifest[HASH_KEY][:12])
    bundle = Bundle(folder, manifest)
    if precision is None:
        return bundle
    from edgeemg.runtime.selfcheck import self_check_default

    return replace(bundle, self_check=self_check_default(bundle, precision))


__all__ = ["Bundle", "MANIFEST_NAME", "canonical_json", "load_bundle", "manifest_hash", "seal_manifest",
           "sha256_file", "validate_manifest"]
