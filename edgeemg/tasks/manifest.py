"""The manifest fields every task's board-side decoder reads (numpy-free, torch-free).

A bundle's ``manifest.json`` and a checkpoint's meta carry the same two fields for the
decoder: ``labels`` (class or unit names, in the model's output order) and ``decoder``
(the task's config dict, written by its ``to_dict``). Each decoder's ``from_manifest``
reads them through these helpers, so a missing field is refused with one kind of message
(naming the decoder and what the field holds) and the config dict is prepared the same way
before the config's ``from_dict`` checks its keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgeemg.errors import InvalidInputError

#: The manifest names its task at its top level; a ``task`` key inside ``decoder`` is not a
#: config field and is dropped rather than refused as unknown.
_NOT_CONFIG = ("task",)


def manifest_labels(manifest: Mapping[str, Any], decoder: str, holds: str = "") -> tuple[str, ...]:
    """``manifest["labels"]`` as a tuple; an :class:`InvalidInputError` naming ``decoder`` if it is missing.

    ``holds`` says what the labels are for this decoder ("unit names"), shown in the error.
    """
    if "labels" not in manifest:
        what = f" ({holds})" if holds else ""
        raise InvalidInputError(f"{decoder}.from_manifest: manifest has no 'labels' field{what}; "
                                "re-export the bundle or pass the checkpoint's meta")
    return tuple(manifest["labels"])


def decoder_settings(manifest: Mapping[str, Any], *, outputs: bool = False,
                     required_by: str | None = None, holds: str = "") -> dict[str, Any]:
    """A copy of ``manifest["decoder"]`` ready for the config's ``from_dict``.

    Parameters
    ----------
    manifest : mapping
        Bundle manifest or checkpoint meta.
    outputs : bool
        Also take the manifest's top-level ``outputs`` (``"logits"`` or ``"probabilities"``)
        when the decoder dict has none: the classifiers' configs read it there.
    required_by : str, optional
        The decoder class that cannot be built without a ``decoder`` field (its config has
        fields without defaults); None when an absent field means the config's defaults.
    holds : str
        What the ``decoder`` field holds, for the error when ``required_by`` is given.
    """
    if required_by is not None and "decoder" not in manifest:
        what = f" ({holds})" if holds else ""
        raise InvalidInputError(f"{required_by}.from_manifest: manifest has no 'decoder' field{what}; "
                                "re-export the bundle or pass the checkpoint's meta")
    cfg = {k: v for k, v in manifest.get("decoder", {}).items() if k not in _NOT_CONFIG}
    if outputs and "outputs" not in cfg and "outputs" in manifest:
        cfg["outputs"] = manifest["outputs"]
    return cfg


__all__ = ["decoder_settings", "manifest_labels"]
