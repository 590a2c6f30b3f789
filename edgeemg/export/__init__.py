"""edgeemg.export: prune, quantize, convert, verify and bundle a trained checkpoint (export host; imports torch lazily).

Public surface::

    from edgeemg.export import export_checkpoint, load_recipe
    result = export_checkpoint("gait.ckpt", "gait.int8/")      # -> ExportResult(bundle, manifest)

``import edgeemg.export`` itself stays cheap: the chain, torch, onnxruntime and
litert-torch load on first use of :func:`export_checkpoint`.
"""

from __future__ import annotations

from edgeemg._lazy import lazy_getattr
from edgeemg.export.recipe import Recipe, load_recipe, recipe_from_dict

_LAZY = {
    "export_checkpoint": "edgeemg.export.chain",
    "ExportResult": "edgeemg.export.chain",
    "DataSource": "edgeemg.export.hooks",
    "TaskExport": "edgeemg.export.hooks",
    "WindowCalibrationReader": "edgeemg.export.hooks",
}

__all__ = ["Recipe", "load_recipe", "recipe_from_dict", *sorted(_LAZY)]


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
