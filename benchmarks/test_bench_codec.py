"""Decoder throughput against the band rates of issue 4.

A 32-channel band at 2 kHz, int16, is 128 kB/s; a 64-channel grid at 2048 Hz is
262 kB/s. The goal: decoding uses < 2 % of one core at 262 kB/s, i.e. the decoder
must sustain >= 50 x 262 kB/s = 13.1 MB/s. The gate compares two figures measured
in the same run (decoder rate / band rate), never an absolute wall time.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeemg.bridge import FrameDecoder, encode_frame

RATES = {"wristband-32ch-2kHz": (32, 2000.0), "hdemg-64ch-2048Hz": (64, 2048.0)}


def _stream(n_channels: int, fs_hz: float, seconds: float = 2.0, spf: int = 8) -> tuple[bytes, int]:
    rng = np.random.default_rng(0)
    n_frames = int(seconds * fs_hz / spf)
    x = rng.normal(0, 100, (spf, n_channels)).astype(np.float32)
    frames = [encode_frame(k & 0xFFFF, int(k * spf * 1e6 / fs_hz), x) for k in range(n_frames)]
    return b"".join(frames), n_frames


@pytest.mark.parametrize("band", list(RATES))
def test_bench_decoder_throughput(benchmark, band):
    ch, fs = RATES[band]
    data, n_frames = _stream(ch, fs)
    band_rate = len(data) / 2.0  # bytes per second of band time (payload + framing)
    chunk = 4096  # a typical USB CDC read

    def decode():
        d = FrameDecoder()
        n = 0
        for i in range(0, len(data), chunk):
            n += len(d.feed(data[i : i + chunk]))
        return n

    assert benchmark(decode) == n_frames
    t = benchmark.stats.stats.median
    mb_s = len(data) / t / 1e6
    core_pct = 100.0 * band_rate / (len(data) / t)
    benchmark.extra_info.update(
        band_kB_s=band_rate / 1e3, decoder_MB_s=mb_s, frames_per_s=n_frames / t, core_percent_at_band_rate=core_pct
    )
    print(f"\n{band}: band {band_rate / 1e3:.0f} kB/s, decoder {mb_s:.1f} MB/s, {n_frames / t:,.0f} frames/s, "
          f"{core_pct:.2f} % of one core")
    assert core_pct < 2.0
