"""Fractional band-shift augmentation: a band turned by part of an electrode, checked against turned signals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeemg.dsp.spectral import log_spectrogram
from edgeemg.tasks.keystroke import spec
from edgeemg.tasks.keystroke.augmentation import augment, fractional_roll
from edgeemg.tasks.keystroke.training import TrainConfig


def _band_spectra(gain: np.ndarray, sources: np.ndarray) -> torch.Tensor:
    """Log-power spectra (T, electrodes, freq) of a band whose electrode e records ``gain[e, i] * sources[:, i]``."""
    emg = (sources @ gain.T).astype(np.float32)  # (samples, electrodes)
    return torch.from_numpy(np.ascontiguousarray(log_spectrogram(emg).transpose(0, 2, 1)))


@pytest.mark.parametrize("shift", [0.3, -0.7, 1.5, 2.0])
def test_fractional_roll_is_the_band_turned_over_a_smooth_field(shift: float) -> None:
    # One source seen by every electrode through a spatial gain profile around the forearm; turning the band by
    # `shift` electrodes samples that profile in between the old electrodes. Where the profile is linear between
    # neighbours (here: sampled at the electrodes and linearly interpolated, a piecewise-linear field) the turned
    # band's signals are exactly the interpolated signals, so their spectra are what fractional_roll predicts.
    rng = np.random.default_rng(0)
    n = spec.N_ELECTRODES
    profile = 10.0 + 40.0 * rng.random(n)  # gain of the source at each electrode position (µV per unit)
    positions = (np.arange(n) - shift) % n  # where each electrode sits on the old band after the turn
    turned = np.interp(positions, np.arange(n + 1), np.r_[profile, profile[0]])  # circular, piecewise linear
    source = rng.standard_normal((4000, 1))
    before = _band_spectra(profile[:, None], source)
    after = _band_spectra(turned[:, None], source)
    torch.testing.assert_close(fractional_roll(before, shift), after, atol=1e-4, rtol=1e-5)


def test_fractional_roll_at_whole_electrodes_is_the_rotation() -> None:
    x = torch.randn(7, spec.N_ELECTRODES, spec.N_FREQ)
    for k in (-2, 0, 1, 3):
        torch.testing.assert_close(fractional_roll(x, float(k)), x.roll(k, dims=1))


def test_augment_turns_each_band_by_its_own_draw_of_the_configured_sd() -> None:
    # A bump of amplitude over a flat floor: a turn by s electrodes moves the centre of the bump (amplitude above
    # the floor, which interpolation between neighbours preserves) by exactly s.
    cfg = TrainConfig(rotation_offsets=(), jitter_frames=0, time_masks=0, freq_masks=0, band_shift_sd=0.25)
    e = torch.arange(spec.N_ELECTRODES, dtype=torch.float64)
    x = torch.zeros(1, spec.N_BANDS, spec.N_ELECTRODES, spec.N_FREQ)
    x[:] = torch.exp(-((e - 8.0) ** 2) / 8.0).float()[:, None]  # log10 power: a bump at electrode 8 over 0
    gen = torch.Generator().manual_seed(3)
    shifts = []
    for _ in range(400):
        y = augment(x, cfg, gen)[0, :, :, 0].double()  # (bands, electrodes)
        bump = 10.0 ** (0.5 * y) - 1.0  # amplitude above the floor
        shifts.append(((bump * e).sum(1) / bump.sum(1) - 8.0).tolist())
    s = np.asarray(shifts)  # (draws, bands)
    assert abs(np.corrcoef(s[:, 0], s[:, 1])[0, 1]) < 0.15  # the two bands turn independently
    assert abs(s.mean()) < 0.05 and s.std() == pytest.approx(0.25, rel=0.15)


def test_tune_beam_keeps_the_lowest_cer_setting_and_scores_each_as_the_decoder_does() -> None:
    from edgeemg.tasks.keystroke.decoder import KeystrokeDecoder
    from edgeemg.tasks.keystroke.decoder_config import DecoderConfig
    from edgeemg.tasks.keystroke.decoder_tuning import tune_beam
    from edgeemg.tasks.keystroke.lm import build_lm, builtin_corpus_text
    from edgeemg.tasks.keystroke.models import PRESETS, build_model
    from edgeemg.tasks.keystroke.sessions import simulated_sessions
    from edgeemg.tasks.keystroke.workflow import model_emissions, score_sessions

    torch.manual_seed(0)
    net = build_model("tds", PRESETS["tds"]["tiny"])
    with torch.no_grad():  # emissions that name some keys, so the settings change the output
        net.head.bias.normal_(0.0, 3.0)
        sessions = simulated_sessions(5, [0], 10.0, text="val")
        em = model_emissions(net, sessions)
    lm = build_lm(builtin_corpus_text(), order=3)
    grid = {"lm_weight": (0.0, 2.0), "insertion_bonus": (-1.0, 3.0)}
    chosen, rows = tune_beam(em, sessions, lm, DecoderConfig(kind="greedy", beam_size=4), grid)
    assert len(rows) == 4 and len({r["cer"] for r in rows}) > 1
    for r in rows:
        cfg = DecoderConfig(beam_size=4, lm_weight=r["lm_weight"], insertion_bonus=r["insertion_bonus"])
        assert r["cer"] == score_sessions(em, sessions, KeystrokeDecoder(cfg, lm)).rates.cer
    best = min(rows, key=lambda r: r["cer"])
    assert (chosen.kind, chosen.beam_size, chosen.lm_weight, chosen.insertion_bonus) == \
        ("beam", 4, best["lm_weight"], best["insertion_bonus"])
