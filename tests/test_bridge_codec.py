"""Codec: golden vectors from the C encoder, CRC references, chunking, resync, errors, fuzz."""

from __future__ import annotations

import binascii
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeemg.bridge import (
    DeviceInfo,
    FrameDecoder,
    FrameType,
    encode_device_info,
    encode_error,
    encode_frame,
)
from edgeemg.bridge import protocol as P
from edgeemg.errors import InvalidInputError

VEC = Path(__file__).resolve().parents[1] / "firmware_bridge" / "vectors"
VECTORS = {v["name"]: v for v in json.loads((VEC / "vectors.json").read_text())["vectors"]}


def _decode_all(data: bytes, chunk: int | None = None):
    d = FrameDecoder()
    if chunk is None:
        return d.feed(data), d
    out = []
    for i in range(0, len(data), chunk):
        out += d.feed(data[i : i + chunk])
    return out, d


# -- references --------------------------------------------------------------------
def test_crcs_match_catalogue_check_values():
    assert P.crc32(b"123456789") == 0xCBF43926 == zlib.crc32(b"123456789")
    assert P.crc16_ccitt(b"123456789") == 0x29B1


@pytest.mark.parametrize("name", ["data_int16", "data_int24", "data_float32"])
def test_golden_data_vectors_decode_and_reencode_byte_for_byte(name):
    v = VECTORS[name]
    raw = (VEC / v["file"]).read_bytes()
    assert len(raw) == v["size"], (f"{VEC / v['file']}: {len(raw)} bytes, vectors.json says {v['size']}: "
                                   "was it rewritten while the tests ran? (`make -C firmware_bridge vectors`)")
    assert raw.hex() == v["hex"]
    assert binascii.crc32(raw[:-4]) == v["crc32"] == int.from_bytes(raw[-4:], "little")
    (fr,), d = _decode_all(raw)
    values = np.asarray(v["values"], dtype=np.float64).reshape(v["n_samples"], v["n_channels"])
    expect = (values.astype(np.float32) * np.float32(v["scale_uv"])).astype(np.float32)
    assert fr.kind is FrameType.DATA and fr.seq == v["seq"] and fr.timestamp_us == v["timestamp_us"]
    np.testing.assert_array_equal(fr.samples, expect)
    # Python encoder reproduces the C bytes from the same microvolts
    uv = values.astype(np.float32) * np.float32(v["scale_uv"]) if v["fmt"] == "float32" else values * v["scale_uv"]
    assert encode_frame(v["seq"], v["timestamp_us"], uv, fmt=v["fmt"], scale_uv=v["scale_uv"]) == raw
    assert d.stats.crc_errors == d.stats.bytes_discarded == 0


def test_golden_device_info_and_error_vectors():
    v = VECTORS["device_info"]
    raw = (VEC / v["file"]).read_bytes()
    (fr,), _ = _decode_all(raw)
    info = DeviceInfo(v["fs_hz"], v["n_channels"], v["layout"], v["firmware"], v["samples_per_frame"], v["fmt"], v["scale_uv"])
    assert fr.kind is FrameType.DEVICE_INFO and fr.info == info and fr.seq == v["seq"]
    assert encode_device_info(v["seq"], v["timestamp_us"], info) == raw
    e = VECTORS["error"]
    raw = (VEC / e["file"]).read_bytes()
    (fr,), _ = _decode_all(raw)
    assert fr.kind is FrameType.ERROR and (fr.error.code, fr.error.message) == (e["code"], e["message"])
    assert encode_error(e["seq"], e["timestamp_us"], e["code"], e["message"]) == raw


@pytest.mark.parametrize("chunk", [None, 1, 3, 29, 64])
def test_golden_stream_with_wrap_garbage_and_flip(chunk):
    v = VECTORS["stream"]
    raw = (VEC / v["file"]).read_bytes()
    frames, d = _decode_all(raw, chunk)
    assert [f.seq for f in frames] == v["expect_seqs"]
    assert d.stats.lost_frames == v["expect_lost_frames"]
    assert d.stats.crc_errors == v["expect_crc_errors"]
    assert [f.lost_before for f in frames] == [0, 0, 0, 1, 1]
    # frame k (of the unflipped order) carries values k*100 + i
    for k, f in zip([0, 1, 2, 3, 5], frames):
        np.testing.assert_array_equal(f.samples, (k * 100 + np.arange(6)).reshape(3, 2).astype(np.float32) * 0.25)
    # every byte is accounted for: in a valid frame, or discarded
    assert d.stats.bytes_discarded + 44 * 5 == len(raw)


# -- round trips and chunking -------------------------------------------------------
@pytest.mark.parametrize("fmt,tol", [("int16", 0.125 + 1e-4), ("int24", 0.005 + 1e-4), ("float32", 0.0)])  # half a count + float32 rounding
def test_roundtrip_any_chunking(fmt, tol):
    rng = np.random.default_rng(3)
    frames = [rng.normal(0, 300, (16, 64)).astype(np.float32) for _ in range(20)]
    stream = b"".join(encode_frame((65530 + k) & 0xFFFF, 10_000 + 8000 * k, x, fmt=fmt) for k, x in enumerate(frames))
    for chunk in (1, 7, 4096, 65536):
        out, d = _decode_all(stream, chunk)
        assert [f.seq for f in out] == [(65530 + k) & 0xFFFF for k in range(20)]
        for f, x in zip(out, frames):
            assert f.samples.dtype == np.float32 and f.samples.shape == (16, 64)
            assert np.abs(f.samples - x).max() <= tol
        assert d.stats.lost_frames == d.stats.crc_errors == d.stats.resyncs == 0


def test_header_crc_rejects_corrupted_length_without_stalling():
    x = np.ones((4, 2), np.float32)
    a, b = encode_frame(0, 0, x), encode_frame(1, 2000, x)
    bad = bytearray(a)
    bad[24] = 0xFF  # payload_len -> huge; header CRC now fails
    out, d = _decode_all(bytes(bad) + b)
    assert [f.seq for f in out] == [1] and d.stats.crc_errors == 1 and d.stats.lost_frames == 0
    assert d.pending_bytes == 0  # b was delivered at once, not held for a bogus payload


# -- errors -------------------------------------------------------------------------
def test_encoder_errors_name_expected_and_received():
    x = np.zeros((2, 2), np.float32)
    with pytest.raises(InvalidInputError, match=r"2-D \(n_samples, n_channels\).*got shape \(4,\)"):
        encode_frame(0, 0, np.zeros(4))
    with pytest.raises(InvalidInputError, match=r"seq must be in \[0, 65535\].*got 65536"):
        encode_frame(65536, 0, x)
    with pytest.raises(InvalidInputError, match=r"does not fit int16 at scale_uv=0.25 \(range ±8191.8 uV\)"):
        encode_frame(0, 0, np.full((1, 1), 9000.0))
    with pytest.raises(InvalidInputError, match="Invalid sample format 'int8'"):
        encode_frame(0, 0, x, fmt="int8")
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        encode_frame(0, 0, np.full((1, 1), np.nan))
    with pytest.raises(InvalidInputError, match="at most 65535 fit a frame"):
        encode_frame(0, 0, np.zeros((1000, 64)))


# -- fuzz ---------------------------------------------------------------------------
def _frame_for(k: int, rng) -> tuple[bytes, np.ndarray]:
    n, ch = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    x = np.rint(rng.normal(0, 200, (n, ch)) / 0.25) * 0.25
    return encode_frame(k & 0xFFFF, 1000 * k, x), x.astype(np.float32)


def _mixed_stream(rng, n_target: int):
    """Valid frames interleaved with garbage, truncated frames and bit-flipped frames.

    Returns the stream, the (seq, samples) of intact frames in order, and the
    number of damaged frames (each consumed one sequence number).
    """
    parts, intact, damaged, k, size = [], [], 0, 0, 0
    while size < n_target:
        roll = rng.random()
        if roll < 0.08:
            part = rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes()
            if rng.random() < 0.3:
                part += P.SYNC  # a fake sync right before the next frame
        else:
            b, x = _frame_for(k, rng)
            if roll < 0.14:  # truncated
                part = b[: int(rng.integers(1, len(b)))]
                damaged += 1
            elif roll < 0.22:  # 1-3 bit flips
                ba = bytearray(b)
                for bit in rng.choice(len(ba) * 8, int(rng.integers(1, 4)), replace=False):  # distinct bits
                    ba[bit // 8] ^= 1 << (bit % 8)
                part = bytes(ba)
                damaged += 1
            else:
                part = b
                intact.append((k & 0xFFFF, x))
            k += 1
        parts.append(part)
        size += len(part)
    # end on an intact frame so that everything damaged is bracketed by seq gaps
    b, x = _frame_for(k, rng)
    parts.append(b)
    intact.append((k & 0xFFFF, x))
    return b"".join(parts), intact, damaged


def test_fuzz_seeded_megabyte_stream_recovers_every_intact_frame_once_in_order():
    rng = np.random.default_rng(20240604)
    stream, intact, damaged = _mixed_stream(rng, 1_000_000)
    assert len(stream) >= 1_000_000
    d = FrameDecoder()
    out = []
    pos = 0
    while pos < len(stream):  # chunk sizes from 1 byte to 64 KiB
        n = int(min(len(stream) - pos, 2 ** rng.uniform(0, 16)))
        out += d.feed(stream[pos : pos + n])
        pos += n
    assert [f.seq for f in out] == [s for s, _ in intact]
    for f, (_s, x) in zip(out, intact):
        np.testing.assert_array_equal(f.samples, x)
    s = d.stats
    assert s.lost_frames == damaged  # every damaged frame counted, via its sequence number
    assert s.crc_errors > 0 and s.resyncs > 0
    assert s.crc_errors + s.resyncs >= damaged  # each damaged frame either failed a CRC or broke alignment
    assert s.bytes_discarded == len(stream) - sum(len(encode_frame(0, 0, x)) for _s, x in intact)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(1, 300), min_size=1, max_size=20))
def test_fuzz_hypothesis_garbage_never_raises_and_frames_survive(garbage, chunks):
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    good = encode_frame(5, 123, x)
    stream = garbage + good + garbage + encode_frame(6, 456, x)
    d = FrameDecoder()
    out, pos, i = [], 0, 0
    while pos < len(stream):
        n = chunks[i % len(chunks)]
        out += d.feed(stream[pos : pos + n])
        pos += n
        i += 1
    seqs = [f.seq for f in out if f.kind is FrameType.DATA and f.timestamp_us in (123, 456)]
    assert seqs == [5, 6]
    for f in out:
        if f.seq in (5, 6):
            np.testing.assert_array_equal(f.samples, x)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_fuzz_hypothesis_bit_flip_is_detected(data):
    x = np.linspace(-500, 500, 24, dtype=np.float32).reshape(8, 3)
    b = bytearray(encode_frame(9, 99, x))
    bit = data.draw(st.integers(0, len(b) * 8 - 1))
    b[bit // 8] ^= 1 << (bit % 8)
    out, d = _decode_all(bytes(b) + encode_frame(10, 4099, x))
    assert [f.seq for f in out] == [10]
    assert d.stats.crc_errors + d.stats.resyncs >= 1
