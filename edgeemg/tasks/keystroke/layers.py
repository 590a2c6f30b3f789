"""Building blocks of the keystroke models (torch): emg2qwerty's band front end and TDS blocks, conv blocks.

Layouts are batch-first; ``permute`` uses positive dimensions only, so the ONNX
exporters accept every block (see :mod:`.models`). Temporal blocks take and
return an explicit cache (the previous ``k - 1`` frames) so the same code runs
offline and in streaming chunks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from edgeemg.errors import InvalidInputError
from edgeemg.tasks.keystroke import spec


class SpectrogramNorm(nn.Module):
    """Per-electrode normalisation of the log-spectra (emg2qwerty's SpectrogramNorm).

    A ``BatchNorm2d`` over the 32 electrode channels, statistics pooled over
    batch, frequency and time. In eval mode it is a fixed per-electrode affine
    map, so it streams without state and folds into the export.
    """

    def __init__(self, channels: int = spec.N_CHANNELS) -> None:
        super().__init__()
        self.channels = channels
        self.batch_norm = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        n, t, b, c, f = x.shape  # (N, T, bands, electrodes, freq)
        y = x.reshape(n, t, b * c, f)  # (N, T, bands*electrodes, freq)
        y = y.permute(0, 2, 3, 1)  # (N, bands*electrodes, freq, T)
        y = self.batch_norm(y)
        y = y.permute(0, 3, 1, 2)  # (N, T, bands*electrodes, freq)
        return y.reshape(n, t, b, c, f)  # (N, T, bands, electrodes, freq)


class RotationInvariantMLP(nn.Module):
    """An MLP over one band's (electrodes x freq) features, averaged over electrode rotations.

    emg2qwerty's answer to a band that sits a little rotated from session to
    session: the same MLP sees the band rolled by each of ``offsets`` electrodes,
    and the outputs are mean-pooled, so a one-electrode shift changes little.
    """

    def __init__(self, in_features: int, mlp_features: Sequence[int], offsets: Sequence[int] = (-1, 0, 1)) -> None:
        super().__init__()
        if not mlp_features:
            raise InvalidInputError("RotationInvariantMLP: mlp_features must name at least one layer size")
        layers: list[nn.Module] = []
        for width in mlp_features:
            layers += [nn.Linear(in_features, width), nn.ReLU()]
            in_features = width
        self.mlp = nn.Sequential(*layers)
        self.offsets = tuple(int(o) for o in offsets) or (0,)

    def forward(self, x: Tensor) -> Tensor:
        # (N, T, electrodes, freq) -> (N, T, rotations, electrodes, freq)
        y = torch.stack([x.roll(o, dims=2) for o in self.offsets], dim=2)
        y = self.mlp(y.flatten(start_dim=3))  # (N, T, rotations, mlp_features[-1])
        return y.mean(dim=2)  # (N, T, mlp_features[-1])


class BandFrontEnd(nn.Module):
    """SpectrogramNorm, then one rotation-invariant MLP per band; frame-wise (no temporal state)."""

    def __init__(self, mlp_features: int) -> None:
        super().__init__()
        self.norm = SpectrogramNorm()
        in_features = spec.N_ELECTRODES * spec.N_FREQ  # 528
        self.left = RotationInvariantMLP(in_features, [mlp_features])
        self.right = RotationInvariantMLP(in_features, [mlp_features])
        self.out_features = 2 * mlp_features

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(x)  # (N, T, bands, electrodes, freq)
        left = self.left(x[:, :, 0])  # (N, T, mlp)
        right = self.right(x[:, :, 1])  # (N, T, mlp)
        return torch.cat([left, right], dim=2)  # (N, T, 2*mlp)


class TDSConv2dBlock(nn.Module):
    """emg2qwerty's time-depth-separable convolution, with an explicit left context.

    Features (C = channels x width) are viewed as ``channels`` maps of ``width``
    and convolved over time with a (1, k) kernel shared across the width, then
    ReLU, residual, LayerNorm. ``forward(x, cache)`` prepends ``cache`` (the
    previous ``k - 1`` input frames; zeros at the start) and returns the new one.
    With ``causal=False`` it is emg2qwerty's centred block: zero padding on both
    sides, offline only.
    """

    def __init__(self, channels: int, width: int, kernel_width: int, causal: bool = True) -> None:
        super().__init__()
        self.channels, self.width, self.kernel_width, self.causal = channels, width, kernel_width, causal
        self.conv2d = nn.Conv2d(channels, channels, kernel_size=(1, kernel_width))
        self.relu = nn.ReLU()
        self.layer_norm = nn.LayerNorm(channels * width)

    @property
    def lookahead(self) -> int:
        """Future frames an output needs (0 when causal)."""
        return 0 if self.causal else (self.kernel_width - 1) - (self.kernel_width - 1) // 2

    def forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        n, t, c = x.shape  # (N, T, C)
        k1 = self.kernel_width - 1
        if self.causal:
            buf = torch.cat([cache, x], dim=1)  # (N, k-1+T, C)
            new_cache = buf[:, t:]  # (N, k-1, C): the last k-1 frames
        else:
            right = self.lookahead
            buf = torch.cat([x.new_zeros(n, k1 - right, c), x, x.new_zeros(n, right, c)], dim=1)
            new_cache = cache
        y = buf.permute(0, 2, 1)  # (N, C, k-1+T)
        y = y.reshape(n, self.channels, self.width, t + k1)  # (N, channels, width, k-1+T)
        y = self.relu(self.conv2d(y))  # (N, channels, width, T)
        y = y.reshape(n, c, t).permute(0, 2, 1)  # (N, T, C)
        return self.layer_norm(y + x), new_cache


class FullyConnectedBlock(nn.Module):
    """emg2qwerty's TDS fully connected block: Linear-ReLU-Linear, residual, LayerNorm (frame-wise)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(features, features), nn.ReLU(), nn.Linear(features, features))
        self.layer_norm = nn.LayerNorm(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer_norm(self.fc(x) + x)  # (N, T, C)


class CausalConvBlock(nn.Module):
    """Conv1d over time with an explicit left context, ReLU, residual, LayerNorm (CNN+LSTM's extractor).

    ``causal=False``: centred, zero padding on both sides (the offline CNN+LSTM;
    ``cache`` is ignored and returned as is).
    """

    def __init__(self, features: int, kernel_size: int, causal: bool = True) -> None:
        super().__init__()
        self.kernel_size, self.causal = kernel_size, causal
        self.conv = nn.Conv1d(features, features, kernel_size)
        self.relu = nn.ReLU()
        self.layer_norm = nn.LayerNorm(features)

    def forward(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        n, t, c = x.shape
        if self.causal:
            buf = torch.cat([cache, x], dim=1)  # (N, k-1+T, C)
            new_cache = buf[:, t:]  # (N, k-1, C)
        else:
            k1 = self.kernel_size - 1
            buf = torch.cat([x.new_zeros(n, k1 // 2, c), x, x.new_zeros(n, k1 - k1 // 2, c)], dim=1)
            new_cache = cache
        y = self.relu(self.conv(buf.permute(0, 2, 1)))  # (N, C, T)
        return self.layer_norm(y.permute(0, 2, 1) + x), new_cache  # (N, T, C)


__all__ = ["BandFrontEnd", "CausalConvBlock", "FullyConnectedBlock", "RotationInvariantMLP", "SpectrogramNorm",
           "TDSConv2dBlock"]
