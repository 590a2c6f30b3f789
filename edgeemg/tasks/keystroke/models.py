"""Keystroke models (torch): emg2qwerty's TDS ConvNet and seed 000's CNN+LSTM, offline and streaming.

Input layout everywhere: ``x`` shaped (N, T, bands=2, electrodes=16, freq=33),
float32 log-spectra (:func:`edgeemg.tasks.keystroke.spec.model_input` makes it
from the DSP output); output: (N, T, 99) log-probabilities, one row per input
frame (125 Hz), blank last. Layers are batch-first and use ``permute`` with
positive dimensions only, so the legacy and dynamo ONNX exporters both produce
graphs onnxruntime accepts (see TOOLCHAIN.md).

**Streaming.** Every temporal convolution here is *causal*: output frame ``t``
sees input frames ``t - k + 1 .. t`` only, and the offline form is literally
the streaming form run once over the whole sequence with all-zero initial state
(a zero left context is the same as zero padding). The streaming wrappers
(:class:`StreamingTDS`, :class:`StreamingCnnLstm`) take and return their state
tensors explicitly: ``forward(x_chunk, conv_cache[, h, c]) -> (emissions,
conv_cache'[, h', c'])``, so an exported graph carries the state and a torch-free
runtime feeds it back hop after hop. Any chunking, down to one frame, gives the
offline emissions (tested to float32 rounding).

Export note (checked by hand, tiny models): ``torch.onnx.export(..., dynamo=True)`` of
:class:`StreamingTDS` matches torch to 1e-6 with the time axis dynamic and the state
fed back; :class:`StreamingCnnLstm` matches at the traced chunk length, but its
dynamic-length graph fails in onnxruntime (a reshape before the head keeps the traced
T), so export it at the runtime's fixed hop (5 frames = 40 ms). The legacy exporter
(``dynamo=False``) gives wrong outputs for both (up to 0.3 in log-probability).

**Algorithmic latency** (``algorithmic_latency_ms``): the future signal an
emission at frame ``t`` needs beyond the samples of frame ``t`` itself, plus the
wait for a frame to complete (one hop, 8 ms): 8 ms for every causal model. CTC
leaves the model free to emit a key some frames after its burst; that learned
delay is measured at evaluation, not fixed by the architecture. ``causal=False``
builds emg2qwerty's centred (offline-only) TDS for comparison: each block then
looks ``(k - 1) - (k - 1) // 2`` frames ahead (4 blocks x 16 frames = 512 ms for
``kernel_width`` 32).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from edgeemg.errors import InvalidInputError
from edgeemg.tasks.keystroke import spec
from edgeemg.tasks.keystroke.layers import (BandFrontEnd, CausalConvBlock, FullyConnectedBlock,
                                            RotationInvariantMLP, SpectrogramNorm, TDSConv2dBlock)


# ------------------------------------------------------------------------------ configs


@dataclass(frozen=True)
class TDSConfig:
    """emg2qwerty's TDS ConvNet (defaults: its published size, about 5.3 M parameters).

    Attributes
    ----------
    mlp_features : int
        Rotation-invariant MLP width per band (features = 2 x this).
    block_channels : tuple of int
        One TDS conv block (+ fully connected block) per entry; each must divide the features.
    kernel_width : int
        Temporal kernel of every TDS conv block, in frames (32 = 256 ms).
    causal : bool
        Streaming-ready (True) or emg2qwerty's centred, offline-only blocks.
    """

    mlp_features: int = 384
    block_channels: tuple[int, ...] = (24, 24, 24, 24)
    kernel_width: int = 32
    causal: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_channels", tuple(int(c) for c in self.block_channels))
        feats = 2 * self.mlp_features
        bad = [c for c in self.block_channels if c < 1 or feats % c]
        if not self.block_channels or bad:
            raise InvalidInputError(f"TDSConfig: block_channels {self.block_channels} must be non-empty and each "
                                    f"divide the {feats} features (2 x mlp_features)")
        if self.kernel_width < 1:
            raise InvalidInputError(f"TDSConfig: kernel_width must be >= 1 frame, got {self.kernel_width}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CnnLstmConfig:
    """Seed 000's CNN+LSTM: the band front end, conv blocks, then an LSTM.

    Attributes
    ----------
    mlp_features : int
        Rotation-invariant MLP width per band.
    conv_blocks : int
        Convolution blocks (residual, LayerNorm) at 2 x mlp_features.
    kernel_size : int
        Their temporal kernel in frames.
    lstm_hidden, lstm_layers : int
        LSTM size (per direction).
    causal : bool
        True: causal convolutions and a unidirectional LSTM, the streaming
        decoder. False: centred convolutions and a bidirectional LSTM, seed
        000's offline model (each output sees the whole prompt; it cannot stream).
    """

    mlp_features: int = 384
    conv_blocks: int = 2
    kernel_size: int = 3
    lstm_hidden: int = 512
    lstm_layers: int = 2
    causal: bool = field(default=True)

    def __post_init__(self) -> None:
        if self.conv_blocks < 1 or self.kernel_size < 1 or self.lstm_layers < 1 or self.lstm_hidden < 1:
            raise InvalidInputError(f"CnnLstmConfig: every size must be >= 1, got {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BiCnnLstmConfig(CnnLstmConfig):
    """The offline CNN+LSTM (``cnn_bilstm``): :class:`CnnLstmConfig` with ``causal=False``."""

    causal: bool = field(default=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.causal:
            raise InvalidInputError("BiCnnLstmConfig: the offline model is bidirectional; for a causal one use "
                                    "model 'cnn_lstm'")


BLANK_PRIOR = 0.95
"""Initial blank probability of every frame (see :func:`init_blank_bias`)."""


def init_blank_bias(head: nn.Linear, blank_prior: float = BLANK_PRIOR) -> None:
    """Start the output layer near CTC's blank-dominated solution instead of uniform.

    Why: with uniform outputs every frame of a ~20-frame key costs log 99, so the
    first CTC losses are 60-80 per character and their gradients dwarf all that
    follow; Adam's second-moment estimate (``beta2`` 0.999) remembers them for
    ~1000 steps, which is a whole CPU run here. With ``p(blank) = blank_prior``
    at initialisation the first loss is ~4.7 per character (measured). Its own
    effect on the final CER was not isolated from the other fixes (see
    tests/test_task_keystroke_learning.py); the non-blank classes start equal.
    """
    with torch.no_grad():
        head.bias.zero_()
        n_other = head.bias.shape[0] - 1
        head.bias[spec.BLANK] = float(torch.log(torch.tensor(blank_prior * n_other / (1.0 - blank_prior))))


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tds": {
        "full": {},
        "small": {"mlp_features": 64, "block_channels": (16, 16, 16, 16), "kernel_width": 16},
        "tiny": {"mlp_features": 16, "block_channels": (8, 8), "kernel_width": 5},
    },
    "cnn_lstm": {
        "full": {},
        "small": {"mlp_features": 64, "conv_blocks": 2, "kernel_size": 3, "lstm_hidden": 128, "lstm_layers": 1},
        "tiny": {"mlp_features": 16, "conv_blocks": 1, "kernel_size": 3, "lstm_hidden": 32, "lstm_layers": 1},
    },
}
PRESETS["cnn_bilstm"] = PRESETS["cnn_lstm"]  # same sizes, per LSTM direction
"""Model sizes: ``full`` is the published size (for a GPU), ``small`` trains on a CPU in minutes,
``tiny`` in seconds (tests)."""


# ------------------------------------------------------------------------------ models


class TDSConvCTC(nn.Module):
    """TDS ConvNet -> (N, T, 99) log-probabilities; ``forward(x)`` is the offline form.

    Algorithmic latency: 8 ms when causal (no look-ahead); with ``causal=False``
    add ``sum(block look-aheads)`` frames x 8 ms (see the module docstring).
    """

    def __init__(self, config: TDSConfig | None = None) -> None:
        super().__init__()
        self.config = config or TDSConfig()
        cfg = self.config
        self.front = BandFrontEnd(cfg.mlp_features)
        feats = self.front.out_features
        self.features = feats
        self.convs = nn.ModuleList(TDSConv2dBlock(c, feats // c, cfg.kernel_width, cfg.causal)
                                   for c in cfg.block_channels)
        self.fcs = nn.ModuleList(FullyConnectedBlock(feats) for _ in cfg.block_channels)
        self.head = nn.Linear(feats, spec.N_CLASSES)
        init_blank_bias(self.head)

    @property
    def lookahead_frames(self) -> int:
        return sum(b.lookahead for b in self.convs)

    @property
    def algorithmic_latency_ms(self) -> float:
        return 1000.0 * spec.FRAME_S * (1 + self.lookahead_frames)

    def initial_state(self, batch: int = 1) -> tuple[Tensor]:
        """Zero conv cache, (N, n_blocks, kernel_width - 1, features)."""
        k1 = self.config.kernel_width - 1
        return (torch.zeros(batch, len(self.convs), k1, self.features, device=self.head.weight.device),)

    def forward_streaming(self, x: Tensor, conv_cache: Tensor) -> tuple[Tensor, Tensor]:
        """One chunk (N, T, 2, 16, 33) with the cache -> (emissions (N, T, 99), new cache)."""
        if not self.config.causal:
            raise InvalidInputError("TDSConvCTC: the centred (causal=False) TDS has look-ahead and cannot stream")
        y = self.front(x)  # (N, T, C)
        caches = []
        for i, (conv, fc) in enumerate(zip(self.convs, self.fcs)):
            y, c = conv(y, conv_cache[:, i])
            y = fc(y)
            caches.append(c)
        out = torch.log_softmax(self.head(y), dim=2)  # (N, T, 99)
        return out, torch.stack(caches, dim=1)  # (N, n_blocks, k-1, C)

    def forward(self, x: Tensor) -> Tensor:
        if self.config.causal:
            return self.forward_streaming(x, self.initial_state(x.shape[0])[0].to(x.dtype))[0]
        y = self.front(x)
        dummy = y.new_zeros(0)
        for conv, fc in zip(self.convs, self.fcs):
            y = fc(conv(y, dummy)[0])
        return torch.log_softmax(self.head(y), dim=2)


class CnnLstmCTC(nn.Module):
    """CNN+LSTM -> (N, T, 99) log-probabilities; ``forward(x)`` is the offline form.

    Algorithmic latency: 8 ms when causal (causal convolutions, unidirectional
    LSTM). The offline form (``causal=False``) reads the whole input in both
    directions: its latency is the rest of the prompt (reported as None).
    """

    def __init__(self, config: CnnLstmConfig | None = None) -> None:
        super().__init__()
        self.config = config or CnnLstmConfig()
        cfg = self.config
        self.front = BandFrontEnd(cfg.mlp_features)
        feats = self.front.out_features
        self.features = feats
        self.convs = nn.ModuleList(CausalConvBlock(feats, cfg.kernel_size, cfg.causal)
                                   for _ in range(cfg.conv_blocks))
        self.lstm = nn.LSTM(feats, cfg.lstm_hidden, num_layers=cfg.lstm_layers, batch_first=True,
                            bidirectional=not cfg.causal)
        self.head = nn.Linear(cfg.lstm_hidden * (1 if cfg.causal else 2), spec.N_CLASSES)
        init_blank_bias(self.head)

    lookahead_frames = 0

    @property
    def algorithmic_latency_ms(self) -> float | None:
        return 1000.0 * spec.FRAME_S if self.config.causal else None

    def initial_state(self, batch: int = 1) -> tuple[Tensor, Tensor, Tensor]:
        """Zero (conv_cache (N, n_blocks, k-1, C), h (layers, N, H), c (layers, N, H))."""
        dev = self.head.weight.device
        cfg = self.config
        return (torch.zeros(batch, cfg.conv_blocks, cfg.kernel_size - 1, self.features, device=dev),
                torch.zeros(cfg.lstm_layers, batch, cfg.lstm_hidden, device=dev),
                torch.zeros(cfg.lstm_layers, batch, cfg.lstm_hidden, device=dev))

    def forward_streaming(self, x: Tensor, conv_cache: Tensor, h: Tensor, c: Tensor
                          ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One chunk with its state -> (emissions (N, T, 99), conv_cache', h', c')."""
        if not self.config.causal:
            raise InvalidInputError("CnnLstmCTC: the offline (bidirectional) CNN+LSTM reads the whole prompt and "
                                    "cannot stream; train model 'cnn_lstm' for the board")
        y = self.front(x)  # (N, T, C)
        caches = []
        for i, conv in enumerate(self.convs):
            y, cc = conv(y, conv_cache[:, i])
            caches.append(cc)
        y, (h2, c2) = self.lstm(y, (h, c))  # (N, T, H)
        out = torch.log_softmax(self.head(y), dim=2)  # (N, T, 99)
        return out, torch.stack(caches, dim=1), h2, c2

    def forward(self, x: Tensor) -> Tensor:
        if self.config.causal:
            state = [s.to(x.dtype) for s in self.initial_state(x.shape[0])]
            return self.forward_streaming(x, *state)[0]
        y = self.front(x)
        dummy = y.new_zeros(0)
        for conv in self.convs:
            y = conv(y, dummy)[0]
        return torch.log_softmax(self.head(self.lstm(y)[0]), dim=2)  # (N, T, 99)


class StreamingTDS(nn.Module):
    """Export-friendly streaming TDS: ``forward(x_chunk, conv_cache) -> (emissions, conv_cache')``."""

    state_names = ("conv_cache",)

    def __init__(self, model: TDSConvCTC) -> None:
        super().__init__()
        self.model = model

    def initial_state(self, batch: int = 1) -> tuple[Tensor, ...]:
        return self.model.initial_state(batch)

    def forward(self, x: Tensor, conv_cache: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.forward_streaming(x, conv_cache)


class StreamingCnnLstm(nn.Module):
    """Export-friendly streaming CNN+LSTM.

    ``forward(x_chunk, conv_cache, h, c) -> (emissions, conv_cache', h', c')``.
    """

    state_names = ("conv_cache", "h", "c")

    def __init__(self, model: CnnLstmCTC) -> None:
        super().__init__()
        self.model = model

    def initial_state(self, batch: int = 1) -> tuple[Tensor, ...]:
        return self.model.initial_state(batch)

    def forward(self, x: Tensor, conv_cache: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.model.forward_streaming(x, conv_cache, h, c)


MODEL_CLASSES = {"tds": (TDSConvCTC, TDSConfig), "cnn_lstm": (CnnLstmCTC, CnnLstmConfig),
                 "cnn_bilstm": (CnnLstmCTC, BiCnnLstmConfig)}


def build_model(name: str, config: dict[str, Any] | None = None) -> TDSConvCTC | CnnLstmCTC:
    """A model by name (``"tds"``, ``"cnn_lstm"``) from a config dict (a checkpoint's ``model_config``)."""
    if name not in MODEL_CLASSES:
        raise InvalidInputError(f"keystroke: invalid model '{name}'. Allowed values are {', '.join(MODEL_CLASSES)}.")
    cls, cfg_cls = MODEL_CLASSES[name]
    cfg = dict(config or {})
    unknown = sorted(set(cfg) - set(cfg_cls.__dataclass_fields__))
    if unknown:
        raise InvalidInputError(f"keystroke {name}: unknown model_config key(s) {unknown}; "
                                f"allowed {sorted(cfg_cls.__dataclass_fields__)}")
    return cls(cfg_cls(**cfg))


def streaming_module(model: TDSConvCTC | CnnLstmCTC) -> StreamingTDS | StreamingCnnLstm:
    """The explicit-state streaming wrapper of a trained model (what the export chain converts)."""
    if isinstance(model, TDSConvCTC):
        return StreamingTDS(model)
    if isinstance(model, CnnLstmCTC):
        return StreamingCnnLstm(model)
    raise InvalidInputError(f"streaming_module: expected TDSConvCTC or CnnLstmCTC, got {type(model).__name__}")


__all__ = [
    "PRESETS", "BiCnnLstmConfig", "CnnLstmCTC", "CnnLstmConfig", "SpectrogramNorm", "RotationInvariantMLP", "StreamingCnnLstm",
    "StreamingTDS", "TDSConfig", "TDSConvCTC", "build_model", "streaming_module",
]
