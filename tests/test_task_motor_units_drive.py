"""The motor-unit decoders' streamed neural drive: the in-place history gives the numbers np.roll gave.

The drive is ``taps @ history`` with the newest per-step spike count first. The decoders used to
rebuild the history with ``np.roll`` on every step; they now share a ``spec.NeuralDrive`` that
shifts one preallocated array in place. These tests replay the old formulation next to the
decoders and require bit-equal drives over long, randomly chunked streams (the drive is a float64
dot product of the same values in the same order), and the drives against the offline causal
convolution.
"""

import numpy as np

from edgeemg.tasks.motor_units.decoder import DecoderConfig, MotorUnitDecoder, causal_neural_drive
from edgeemg.tasks.motor_units.filter_decoder import FilterDecoderConfig, FilterSpikeDecoder
from edgeemg.tasks.motor_units.spec import hann_taps


def rolled_drive(counts, taps):
    """The previous implementation, one step at a time: np.roll the history, write the newest count first."""
    history, out = np.zeros(taps.size), []
    for c in counts:
        history = np.roll(history, 1)
        history[0] = c
        out.append(float(taps @ history))
    return np.array(out)


def _chunks(rng, n):
    cuts = np.sort(rng.choice(np.arange(1, n), size=12, replace=False))
    return list(zip([0, *cuts], [*cuts, n]))


def test_window_decoder_drive_is_bit_equal_to_the_rolled_history():
    rng = np.random.default_rng(5)
    n, units = 700, 6
    prob = rng.uniform(size=(n, units)) ** 2
    end = 119 + 20 * np.arange(n)
    cfg = DecoderConfig(step=20, label_delay=60)
    dec = MotorUnitDecoder([f"mu{i}" for i in range(units)], cfg)
    events = [e for lo, hi in _chunks(rng, n) for e in dec.step(prob[lo:hi], end[lo:hi])]
    counts = (prob > cfg.threshold).sum(1)
    got = np.array([e["neural_drive"] for e in events])
    np.testing.assert_array_equal(got, rolled_drive(counts, cfg.hann_taps()))
    np.testing.assert_allclose(got, causal_neural_drive(counts, cfg.hann_taps()), rtol=0, atol=1e-9)
    dec.reset()  # a reset empties the history again
    first = dec.step(prob[:3], end[:3])
    np.testing.assert_array_equal([e["neural_drive"] for e in first], rolled_drive(counts[:3], cfg.hann_taps()))


def test_filter_decoder_drive_is_bit_equal_to_the_rolled_history():
    rng = np.random.default_rng(6)
    units, hop, n_hops = 3, 32, 400
    cfg = FilterDecoderConfig(threshold=(0.5,) * units, hop=hop)
    dec = FilterSpikeDecoder([f"u{i}" for i in range(units)], cfg)
    shape = (n_hops * hop, units)
    sources = np.where(rng.uniform(size=shape) < 0.01, 1.0, 0.05 * rng.standard_normal(shape))  # sparse peaks at 1
    counts, drives = [], []
    for k in range(n_hops):  # the engine calls the decoder once per model call, one hop of rows
        rows = slice(k * hop, (k + 1) * hop)
        (ev,) = dec.step(sources[rows], np.arange(rows.start, rows.stop))
        counts.append(ev["n_spikes"])  # spikes per hop: the drive's count when a call covers one hop
        drives.append(ev["neural_drive"])
    taps = hann_taps(cfg.drive_window_s, cfg.fs_hz, hop)
    assert sum(counts) > 20  # spikes were decoded, so the drive is not all zeros
    np.testing.assert_array_equal(drives, rolled_drive(counts, taps))
    np.testing.assert_allclose(drives, causal_neural_drive(counts, taps), rtol=0, atol=1e-9)
