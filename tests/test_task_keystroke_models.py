"""Keystroke task, training side: streaming == offline, CTC loss, augmentation, a short training run."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from edgeemg.data.sim_keystroke import simulate_keystroke
from edgeemg.errors import InvalidInputError
from edgeemg.tasks.keystroke import spec
from edgeemg.tasks.keystroke.models import PRESETS, build_model, streaming_module
from edgeemg.tasks.keystroke.training import TrainConfig, augment, ctc_loss
from edgeemg.tasks.keystroke.workflow import stream_emissions


@pytest.fixture(scope="module")
def typing_emg() -> np.ndarray:
    return simulate_keystroke(2.0, seed=3).emg


@pytest.mark.parametrize("name", ["tds", "cnn_lstm"])
def test_streaming_chain_equals_offline(name: str, typing_emg: np.ndarray) -> None:
    torch.manual_seed(0)
    net = build_model(name, PRESETS[name]["tiny"]).eval()
    with torch.no_grad():  # BatchNorm with non-trivial statistics, as after training
        net.front.norm.batch_norm.running_mean.normal_(0, 1)
        net.front.norm.batch_norm.running_var.uniform_(0.5, 2.0)
    x = spec.model_input(spec.features(typing_emg))
    with torch.no_grad():
        offline = net(torch.from_numpy(x)[None])[0].numpy()
    for hop in (80, 16, 333):  # 40 ms hops, one frame per call, ragged chunks
        streamed, end_index = stream_emissions(net, typing_emg, hop_samples=hop)
        assert streamed.shape == offline.shape
        np.testing.assert_allclose(streamed, offline, rtol=0, atol=2e-5)
        np.testing.assert_array_equal(end_index, spec.frame_end_index(len(offline)))


@pytest.mark.parametrize("name", ["tds", "cnn_lstm"])
def test_streaming_state_is_explicit(name: str) -> None:
    net = build_model(name, PRESETS[name]["tiny"]).eval()
    mod = streaming_module(net)
    state = mod.initial_state(2)
    assert len(state) == len(mod.state_names)
    x = torch.randn(2, 4, 2, 16, 33)
    with torch.no_grad():
        out, *new = mod(x, *state)
    assert out.shape == (2, 4, 99)
    assert [s.shape for s in new] == [s.shape for s in state]
    assert torch.allclose(out.exp().sum(-1), torch.ones(2, 4), atol=1e-5)


def test_centred_tds_has_lookahead_and_refuses_to_stream() -> None:
    net = build_model("tds", {**PRESETS["tds"]["tiny"], "causal": False})
    assert net.lookahead_frames == 2 * 2 and net.algorithmic_latency_ms == pytest.approx(8.0 * 5)
    with pytest.raises(InvalidInputError, match="cannot stream"):
        net.forward_streaming(torch.zeros(1, 3, 2, 16, 33), net.initial_state(1)[0])
    with pytest.raises(InvalidInputError, match="unknown model_config"):
        build_model("tds", {"kernel": 3})


def test_ctc_loss_matches_brute_force_over_alignments() -> None:
    rng = np.random.default_rng(1)
    t_total, start, end = 8, 2, 7  # the loss covers frames [2, 7) only
    lp = np.full((1, t_total, 99), -1e4)
    classes = (0, 1, spec.BLANK)
    logits = rng.normal(0, 1, (t_total, 3))
    lp[0][:, classes] = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    target = (0, 1)
    total = 0.0
    for path in itertools.product(range(3), repeat=end - start):
        labels = [classes[i] for i in path]
        collapsed, prev = [], None
        for c in labels:
            if c != spec.BLANK and c != prev:
                collapsed.append(c)
            prev = c
        if tuple(collapsed) == target:
            total += math.exp(sum(lp[0, start + k, c] for k, c in enumerate(labels)))
    want = -math.log(total) / len(target)  # reduction="mean" divides by the target length
    got = ctc_loss(torch.tensor(lp), torch.tensor(target), torch.tensor([2]), torch.tensor([start]),
                   torch.tensor([end]))
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_augmentation_is_seeded_and_physical() -> None:
    x = torch.randn(60, 2, 16, 33)
    cfg = TrainConfig(jitter_frames=0, time_masks=0, freq_masks=0)
    y = augment(x, cfg, torch.Generator().manual_seed(5))
    for b in range(2):  # a rotation: the band's electrodes are a cyclic shift of the original
        assert any(torch.equal(y[:, b], x[:, b].roll(o, dims=1)) for o in (-1, 0, 1))
    full = TrainConfig()
    a = augment(x, full, torch.Generator().manual_seed(7))
    b2 = augment(x, full, torch.Generator().manual_seed(7))
    assert torch.equal(a, b2)
    assert torch.equal(x, x.clone())  # input untouched


@pytest.mark.parametrize("name", ["cnn_lstm", "cnn_bilstm"])
def test_offline_cnn_lstm_reads_both_sides_and_the_streaming_one_only_the_past(name: str) -> None:
    """Changing frame 20 moves earlier outputs only for the offline (bidirectional) model."""
    torch.manual_seed(0)
    net = build_model(name, PRESETS[name]["tiny"]).eval()
    x = torch.randn(1, 40, 2, 16, 33)
    y = x.clone()
    y[:, 20] += 3.0
    with torch.no_grad():
        a, b = net(x)[0], net(y)[0]
    assert torch.allclose(a.exp().sum(-1), torch.ones(40), atol=1e-5)
    moved_before = float((a[:20] - b[:20]).abs().max())
    assert float((a[20:] - b[20:]).abs().max()) > 1e-4
    if name == "cnn_lstm":
        assert moved_before == 0.0 and net.algorithmic_latency_ms == pytest.approx(8.0)
    else:
        assert moved_before > 1e-4 and net.algorithmic_latency_ms is None
        with pytest.raises(InvalidInputError, match="cannot stream"):
            net.forward_streaming(x, *net.initial_state(1))
        with pytest.raises(InvalidInputError, match="bidirectional"):
            build_model("cnn_bilstm", {"causal": True})
