"""Augmentation of the keystroke models' log-spectra (torch): what :mod:`.training` draws for each example.

Exact on these features because the spectrogram is per electrode and
frame-aligned (see :mod:`.training`'s docstring for the list and sources).
Every draw comes from the caller's ``torch.Generator``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from edgeemg.tasks.keystroke import spec


def fractional_roll(band: torch.Tensor, shift: float) -> torch.Tensor:
    """A band's log10 power (T, electrodes, freq) as if the band were rotated by ``shift`` electrodes (any real).

    Why: re-donning a band turns it around the forearm by a fraction of the
    electrode spacing (the simulator draws N(0, 0.5) electrodes per session), so
    each electrode then sits between two of the old positions. The surface
    potential is spatially smooth on that scale (a motor unit's action potential
    spreads over centimetres of skin, wider than the ~1.5 cm spacing), so the
    signal there is close to the linear interpolation of its two neighbours'
    signals, i.e. their amplitudes (square roots of power) interpolate:
    ``P = ((1 - f) sqrt(P_k) + f sqrt(P_k+1))^2`` with ``k = floor(shift)``,
    ``f = shift - k``; integer shifts are exactly :meth:`torch.Tensor.roll`.
    """
    k = math.floor(shift)
    f = shift - k
    lo, hi = band.roll(k, dims=1), band.roll(k + 1, dims=1)
    if f == 0.0:
        return lo
    half_ln10 = 0.5 * math.log(10.0)  # log10 power -> natural log of amplitude
    amp = torch.logaddexp(lo * half_ln10 + math.log1p(-f), hi * half_ln10 + math.log(f))
    return amp / half_ln10


def augment(x: torch.Tensor, cfg: Any, gen: torch.Generator) -> torch.Tensor:
    """One example (T, 2, 16, 33) -> augmented copy, as ``cfg`` (a :class:`~.training.TrainConfig`) asks."""
    x = x.clone()
    t = x.shape[0]
    offs = cfg.rotation_offsets
    for b in range(spec.N_BANDS):
        if offs:
            o = offs[int(torch.randint(len(offs), (1,), generator=gen))]
            x[:, b] = x[:, b].roll(o, dims=1)  # (T, electrodes, freq): rotate the band
    if cfg.band_shift_sd:
        for b in range(spec.N_BANDS):
            x[:, b] = fractional_roll(x[:, b], cfg.band_shift_sd * float(torch.randn(1, generator=gen)))
    if cfg.gain_jitter_db:  # an electrode's gain g adds log10(g^2) = dB / 10 to each of its log10-power bins
        x += cfg.gain_jitter_db / 10.0 * torch.randn(spec.N_BANDS, spec.N_ELECTRODES, 1, generator=gen)
    if cfg.jitter_frames:
        j = int(torch.randint(-cfg.jitter_frames, cfg.jitter_frames + 1, (1,), generator=gen))
        if j:
            x[:, 0] = x[:, 0].roll(j, dims=0)  # left band moved against the right one (edges wrap: few frames)
    for b in range(spec.N_BANDS):
        for _ in range(int(torch.randint(cfg.time_masks + 1, (1,), generator=gen))):
            w = int(torch.randint(cfg.time_mask_frames + 1, (1,), generator=gen))
            a = int(torch.randint(max(t - w, 1), (1,), generator=gen))
            x[a:a + w, b] = 0.0
        for _ in range(int(torch.randint(cfg.freq_masks + 1, (1,), generator=gen))):
            w = int(torch.randint(cfg.freq_mask_bins + 1, (1,), generator=gen))
            a = int(torch.randint(max(spec.N_FREQ - w, 1), (1,), generator=gen))
            x[:, b, :, a:a + w] = 0.0
    return x


__all__ = ["augment", "fractional_roll"]
