"""Streaming DSP for surface EMG: numba or scipy kernels behind small stateful objects.

Layout everywhere: ``x_tc`` arrays shaped (n_samples, n_channels), float32
microvolts. Every streaming object has ``.process(chunk)`` and ``.reset()``, and
any chunking of a stream gives the same result as one call on the whole stream
(the kernels follow scipy's ``zi``/``zf`` convention underneath).

The kernels are numba's where numba is installed (the ``jit`` extra), else
scipy's and numpy's, with the same results (:mod:`edgeemg.dsp._backend`;
``EDGEEMG_DSP_BACKEND`` chooses). No kernel is compiled at import: numba
compiles (or loads from its on-disk cache) on first use. Nothing here imports
torch.
"""

from edgeemg.dsp.features import FEATURE_NAMES, td_features
from edgeemg.dsp.filters import (
    InitialState,
    StreamingSOS,
    bandpass_sos,
    highpass_sos,
    lowpass_sos,
    notch_sos,
    sosfilt_tc,
)
from edgeemg.dsp.normalize import Envelope, RunningZScore, ZScore
from edgeemg.dsp.pipeline import STAGE_NAMES, Pipeline
from edgeemg.dsp.spectral import StreamingLogSpectrogram, log_spectrogram
from edgeemg.dsp.windowing import Frames, SlidingWindow, windows_offline

__all__ = [
    "FEATURE_NAMES",
    "STAGE_NAMES",
    "Envelope",
    "Frames",
    "InitialState",
    "Pipeline",
    "RunningZScore",
    "SlidingWindow",
    "StreamingLogSpectrogram",
    "StreamingSOS",
    "ZScore",
    "bandpass_sos",
    "highpass_sos",
    "log_spectrogram",
    "lowpass_sos",
    "notch_sos",
    "sosfilt_tc",
    "td_features",
    "windows_offline",
]
