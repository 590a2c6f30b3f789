"""Structured pruning removes exactly the filters it ranks lowest, and the smaller model computes what the
original computes with those filters zeroed (an independent reference: the unpruned model, edited)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeemg.export.prune import l1_keep_indices, model_cost, n_kept, prune_structured
from edgeemg.tasks.gait.export_hooks import prune_groups as gait_groups
from edgeemg.tasks.gait.models import GaitCNN
from edgeemg.tasks.muscle_health.export_hooks import prune_groups as muscle_groups
from edgeemg.tasks.muscle_health.models import SpectroEMGNet


@pytest.mark.parametrize(("n_out", "ratio", "multiple", "expected"), [
    (32, 0.25, 1, 24), (16, 0.2, 1, 13), (64, 0.2, 1, 51), (4, 0.99, 1, 1),
    (16, 0.2, 8, 16), (32, 0.2, 8, 24), (64, 0.2, 8, 48), (128, 0.1, 8, 112), (4, 0.5, 8, 2),
])
def test_kept_counts_round_to_the_channel_multiple(n_out, ratio, multiple, expected):
    assert n_kept(n_out, ratio, multiple) == expected


def test_the_lowest_l1_filters_go():
    conv = torch.nn.Conv1d(2, 8, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.arange(1, 9, dtype=torch.float32)[[3, 0, 7, 1, 6, 2, 5, 4], None, None]
                          .expand(8, 2, 3))
    # L1 order of the filters: 1 (value 1), 3 (2), 5 (3), 0 (4), ...; ratio 0.5 drops the four smallest
    assert l1_keep_indices(conv, 0.5).tolist() == [2, 4, 6, 7]


def _zero_dropped(net: torch.nn.Module, pruned: torch.nn.Module, groups) -> torch.nn.Module:
    """The unpruned model with every removed filter's weights and bias set to zero."""
    with torch.no_grad():
        for g in groups:
            layer = net.get_submodule(g.producer)
            kept = pruned.get_submodule(g.producer).weight.shape[0]
            keep = l1_keep_indices(layer, 1.0 - kept / layer.weight.shape[0] + 1e-9)
            drop = torch.ones(layer.weight.shape[0], dtype=torch.bool)
            drop[keep] = False
            layer.weight[drop] = 0.0
            if layer.bias is not None:
                layer.bias[drop] = 0.0
    return net


@pytest.mark.parametrize("multiple", [1, 8])
@pytest.mark.parametrize("task", ["gait", "muscle"])
def test_pruned_model_equals_the_original_with_those_filters_zeroed(task, multiple):
    torch.manual_seed(0)
    if task == "gait":
        net, x = GaitCNN(6, 400).eval(), torch.randn(5, 400, 6)
        groups = gait_groups(net)
    else:
        net, x = SpectroEMGNet(64, 65, 1).eval(), torch.randn(5, 64, 65, 1)
        groups = muscle_groups(net)
    pruned, report = prune_structured(net, groups, 0.25, multiple)
    for row in report:
        assert row["after"] == n_kept(row["before"], 0.25, multiple)
        assert multiple == 1 or row["after"] % multiple == 0 or row["after"] == row["before"]
    assert model_cost(pruned, tuple(x.shape[1:])).params < model_cost(net, tuple(x.shape[1:])).params
    with torch.no_grad():
        got = pruned(x).numpy()
        ref = _zero_dropped(net, pruned, groups)(x).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
