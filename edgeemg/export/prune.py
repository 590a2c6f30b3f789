"""Structured L1 filter pruning with physical channel removal, and parameter / MAC counting (torch).

Ranking is :func:`torch.nn.utils.prune.ln_structured` (L1 norm of each output
filter, ``dim=0``): the well-kept implementation picks *which* filters go. That
function only masks weights to zero, which makes nothing faster on a board, so
the removal is written here by hand (no installed library does it; torch-pruning
is not a dependency): each pruned layer is replaced by a smaller one holding the
kept filters, and every consumer by one reading only the kept channels. Dense
int8 kernels then run on fewer channels, which is what makes them faster.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from edgeemg.errors import ExportError
from edgeemg.export.hooks import PruneGroup

log = logging.getLogger(__name__)

_PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)


@dataclass(frozen=True)
class ModelCost:
    """Size and compute of one forward pass of one item (batch 1)."""

    params: int
    macs: int

    def to_dict(self) -> dict[str, int]:
        return {"params": self.params, "macs": self.macs}


def model_cost(module: nn.Module, input_shape: tuple[int, ...], state_shapes: tuple[tuple[int, ...], ...] = ()
               ) -> ModelCost:
    """Parameters and multiply-accumulates per item, counted with forward hooks on Conv/Linear/LSTM layers.

    MACs count the weight multiplications of convolutions, linear layers and
    LSTMs (``4 * hidden * (input + hidden)`` per step and layer); pooling,
    activations and the attention softmax are elementwise and left out, as
    usual for MAC counts. ``state_shapes``: zero tensors passed after the
    input, for a streaming module ``forward(x, *state)`` (one item = one chunk).
    """
    macs = 0

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(mod, nn.LSTM):
            y = out[0]
            steps = y.shape[0] * y.shape[1]
            h = mod.hidden_size
            macs += sum(steps * 4 * h * ((mod.input_size if layer == 0 else h) + h) for layer in range(mod.num_layers))
        elif isinstance(mod, nn.Linear):
            macs += out.numel() * mod.in_features
        else:  # ConvNd
            k = int(torch.tensor(mod.kernel_size).prod())
            macs += out.numel() * (mod.in_channels // mod.groups) * k

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (*_PRUNABLE, nn.LSTM))]
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(1, *input_shape), *(torch.zeros(*s) for s in state_shapes))
    finally:
        for h in handles:
            h.remove()
    return ModelCost(params=int(sum(p.numel() for p in module.parameters())), macs=int(macs))


def n_kept(n_out: int, ratio: float, multiple: int = 1) -> int:
    """How many of ``n_out`` filters survive pruning at ``ratio`` (at least one).

    With ``multiple`` > 1 the count is rounded to the nearest multiple of it
    (never above ``n_out``, never below ``multiple`` unless ``n_out`` is
    smaller). Why: int8 and float convolution kernels (onnxruntime's MLAS
    NCHWc blocks, XNNPACK, TFLite's int8 kernels) work on channel blocks of 8
    or 16, so odd counts leave lanes idle. On the muscle model (one core,
    batch 1, fp32 ONNX, each pair from one run), 16/32/32/64 filters pruned to
    13/26/26/51 ran 0.134 ms against 0.110 ms unpruned despite a third fewer
    MACs; pruned to 16/24/24/48, 0.122 ms against 0.114 ms.

    Parameters
    ----------
    n_out : int
        Output filters of the layer before pruning.
    ratio : float
        Fraction to remove, in [0, 1).
    multiple : int
        Channel block to round the kept count to; 1: no rounding.

    Returns
    -------
    int
        Filters kept, in [1, n_out].

    Examples
    --------
    >>> n_kept(32, 0.2), n_kept(32, 0.2, multiple=8), n_kept(16, 0.2, multiple=8)
    (26, 24, 16)
    """
    keep = n_out - min(int(round(ratio * n_out)), n_out - 1)
    if multiple > 1 and n_out > multiple:
        keep = min(n_out, max(multiple, int(round(keep / multiple)) * multiple))
    return max(1, keep)


def l1_keep_indices(layer: nn.Module, ratio: float, multiple: int = 1) -> torch.Tensor:
    """Sorted indices of the output filters that survive L1 structured pruning at ``ratio``.

    Uses ``torch.nn.utils.prune.ln_structured(n=1, dim=0)`` on a copy of the
    layer and reads its mask; how many survive is :func:`n_kept`.
    """
    n_out = layer.weight.shape[0]
    n_drop = n_out - n_kept(n_out, ratio, multiple)
    if n_drop <= 0:
        return torch.arange(n_out)
    probe = copy.deepcopy(layer)
    torch_prune.ln_structured(probe, name="weight", amount=n_drop, n=1, dim=0)
    mask = probe.weight_mask.reshape(n_out, -1).any(dim=1)
    return torch.nonzero(mask).flatten()


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def _slice_layer(layer: nn.Module, out_keep: torch.Tensor | None, in_keep: torch.Tensor | None) -> nn.Module:
    """A new layer of the same kind keeping output rows ``out_keep`` and input columns ``in_keep``."""
    w = layer.weight.detach()
    b = layer.bias.detach() if layer.bias is not None else None
    if out_keep is not None:
        w = w[out_keep]
        b = b[out_keep] if b is not None else None
    if in_keep is not None:
        w = w[:, in_keep]
    if isinstance(layer, nn.Linear):
        new: nn.Module = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    else:
        if layer.groups != 1:
            raise ExportError(f"pruning grouped convolutions is not supported (layer {layer})")
        cls = type(layer)
        new = cls(w.shape[1], w.shape[0], layer.kernel_size, stride=layer.stride, padding=layer.padding,
                  dilation=layer.dilation, bias=b is not None, padding_mode=layer.padding_mode)
    with torch.no_grad():
        new.weight.copy_(w)
        if b is not None:
            new.bias.copy_(b)
    return new


def prune_structured(module: nn.Module, groups: list[PruneGroup], ratio: float,
                     multiple: int = 1) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Remove ``ratio`` of the filters of every group's producer (lowest L1 first), physically.

    Parameters
    ----------
    module : nn.Module
        Float model; left untouched (a pruned deep copy is returned).
    groups : list of PruneGroup
        From the task hooks: which layer's outputs feed which layers' inputs.
    ratio : float
        Fraction of each producer's filters removed, in [0, 1).
    multiple : int
        Round each kept count to a multiple of this (:func:`n_kept`); 1: no rounding.

    Returns
    -------
    pruned : nn.Module
    report : list of dict
        Per group: ``layer``, ``before`` and ``after`` filter counts.
    """
    pruned = copy.deepcopy(module).eval()
    report = []
    # rank on the original weights first: a consumer's input slicing must not change its producer ranking
    plan = []
    for g in groups:
        try:
            producer = pruned.get_submodule(g.producer)
        except AttributeError as exc:
            raise ExportError(f"prune group names layer '{g.producer}', which the model does not have") from exc
        if not isinstance(producer, _PRUNABLE):
            raise ExportError(f"prune group producer '{g.producer}' is {type(producer).__name__}, not Conv/Linear")
        plan.append((g, l1_keep_indices(producer, ratio, multiple)))
    out_keep: dict[str, torch.Tensor] = {g.producer: keep for g, keep in plan}
    in_keep: dict[str, torch.Tensor] = {}
    for g, keep in plan:
        for consumer, per_channel in g.consumers:
            idx = (keep[:, None] * per_channel + torch.arange(per_channel)[None, :]).flatten()
            in_keep[consumer] = idx
    for name in sorted(set(out_keep) | set(in_keep)):
        layer = pruned.get_submodule(name)
        _replace(pruned, name, _slice_layer(layer, out_keep.get(name), in_keep.get(name)))
    for g, keep in plan:
        before = module.get_submodule(g.producer).weight.shape[0]
        report.append({"layer": g.producer, "before": int(before), "after": int(len(keep))})
        log.info("pruned %s: %d -> %d filters", g.producer, before, len(keep))
    return pruned.eval(), report


__all__ = ["ModelCost", "l1_keep_indices", "model_cost", "n_kept", "prune_structured"]
