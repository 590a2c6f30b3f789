"""Separation filters on the portable int8 grid: onnxruntime's own weight quantizer is the reference."""

import numpy as np
import pytest
import scipy.signal
from onnx import TensorProto
from onnxruntime.quantization.quant_utils import quantize_data

from edgeemg.decompose import extend
from edgeemg.errors import InvalidInputError
from edgeemg.tasks.motor_units.int8_grid import LEVELS, round_to_grid, second_moment


def _ort_int8(w):
    """What the export chain's scheme makes of ``w``: per-channel symmetric int8, reduce_range, dequantized."""
    zero, scale, q = quantize_data(np.asarray(w, np.float32), TensorProto.INT8, True, reduce_range=True)
    return (q.astype(np.float64) - float(zero)) * float(scale)


def _stream(seed, n=6000, channels=8, sources=2):
    """A few band-limited sources seen by more channels, plus noise: a grid's stream in miniature."""
    rng = np.random.default_rng(seed)
    b, a = scipy.signal.butter(2, [0.05, 0.3], btype="band")
    s = scipy.signal.lfilter(b, a, rng.standard_normal((n, sources)), axis=0)
    mixing = np.random.default_rng(99).standard_normal((sources, channels))  # the same grid for both streams
    return (s @ mixing + 0.05 * rng.standard_normal((n, channels))).astype(np.float32)


def test_rounded_filter_is_exactly_what_onnxruntime_quantizes_and_errs_less_on_new_data():
    r = 6
    fit, new = extend(_stream(0), r), extend(_stream(1), r)
    w = np.random.default_rng(2).standard_normal(fit.shape[1])
    got = round_to_grid(w, second_moment(fit))
    # on onnxruntime's grid: re-quantizing changes nothing, and the scale is the unrounded filter's
    np.testing.assert_allclose(_ort_int8(got), got, rtol=0, atol=1e-6 * np.abs(w).max())
    assert np.abs(got).max() == pytest.approx(np.abs(w).max(), rel=1e-12)
    assert np.all(np.abs(np.round(got / (np.abs(w).max() / LEVELS)) - got / (np.abs(w).max() / LEVELS)) < 1e-9)
    # the output error on data the rounding never saw is well under onnxruntime's own rounding of the filter
    err_naive = np.sqrt(np.mean((new @ (_ort_int8(w) - w)) ** 2))
    err_grid = np.sqrt(np.mean((new @ (got - w)) ** 2))
    assert err_grid < 0.5 * err_naive, (err_grid, err_naive)


def test_zero_filter_and_bad_arguments():
    assert np.all(round_to_grid(np.zeros(4), np.eye(4)) == 0)
    with pytest.raises(InvalidInputError, match=r"h must be \(4, 4\)"):
        round_to_grid(np.ones(4), np.eye(3))
    with pytest.raises(InvalidInputError, match="levels"):
        round_to_grid(np.ones(4), np.eye(4), levels=0)
