"""Frame payloads in and out: encoders (as the C reference encoder writes them) and payload parsers.

The incremental byte-stream decoder is :mod:`edgeemg.bridge.decoder`.
"""

from __future__ import annotations

import struct

import numpy as np
from numpy.typing import NDArray

from edgeemg.bridge import protocol as P
from edgeemg.bridge.frames import DeviceErrorReport, DeviceInfo
from edgeemg.bridge.protocol import FrameType, SampleFormat
from edgeemg.errors import InvalidInputError, ProtocolError

_INFO_FIXED = struct.Struct("<IHHBBf")  # fs_mhz, n_channels, samples_per_frame, fmt, reserved, scale_uv
_ERROR_FIXED = struct.Struct("<H")
_MAX_NAME = 255


def _check_seq(seq: int) -> int:
    if not 0 <= int(seq) < P.SEQ_MODULUS:
        raise InvalidInputError(f"seq must be in [0, 65535] (wrap it with seq & 0xFFFF), got {seq}")
    return int(seq)


def _check_ts(timestamp_us: int) -> int:
    if not 0 <= int(timestamp_us) < (1 << 64):
        raise InvalidInputError(f"timestamp_us must be an unsigned 64-bit integer, got {timestamp_us}")
    return int(timestamp_us)


def encode_frame(
    seq: int,
    timestamp_us: int,
    samples: NDArray,
    fmt: str = "int16",
    scale_uv: float | None = None,
) -> bytes:
    """Encode one data frame, exactly as the C reference encoder does.

    Parameters
    ----------
    seq : int
        Sequence number in [0, 65535]; the device increments it by one per frame
        of any type, wrapping, so that the host can count lost frames.
    timestamp_us : int
        Device clock (µs) of the first sample in the frame.
    samples : array_like, shape (n_samples, n_channels)
        Microvolts.
    fmt : {"int16", "int24", "float32"}
    scale_uv : float, optional
        Microvolts per count. Default per format: 0.25 (int16), 0.01 (int24), 1.0 (float32).

    Returns
    -------
    bytes
        Header (28 bytes), payload, CRC-32 (4 bytes).

    Raises
    ------
    InvalidInputError
        On a bad shape, a non-finite value, or a value the format cannot hold at
        this scale (the encoder refuses to clip, because clipping would invent samples).
    """
    f = P.sample_format(fmt)
    x = np.asarray(samples)
    if x.ndim != 2 or x.shape[1] == 0:
        raise InvalidInputError(f"samples must be 2-D (n_samples, n_channels) with >= 1 channel, got shape {x.shape}")
    n, ch = x.shape
    if n > 0xFFFF or ch > 0xFFFF:
        raise InvalidInputError(f"samples shape {x.shape} exceeds the 16-bit n_samples / n_channels fields")
    payload_len = n * ch * P.SAMPLE_BYTES[f]
    if payload_len > P.MAX_PAYLOAD:
        raise InvalidInputError(
            f"payload of {n} samples x {ch} channels in {f.name.lower()} is {payload_len} bytes; "
            f"at most {P.MAX_PAYLOAD} fit a frame (send fewer samples per frame)"
        )
    scale = float(P.DEFAULT_SCALE_UV[f] if scale_uv is None else scale_uv)
    if not np.isfinite(scale) or scale <= 0:
        raise InvalidInputError(f"scale_uv must be a finite positive float, got {scale_uv}")
    xf = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(xf)):
        raise InvalidInputError("samples contain NaN or inf; the protocol carries finite values only")
    if f is SampleFormat.FLOAT32:
        counts32 = (xf / scale).astype("<f4")
        payload = counts32.tobytes()
    else:
        counts = np.rint(xf / scale)
        lim = P.SAMPLE_MAX[f]
        if counts.size and (counts.max() > lim or counts.min() < -lim - 1):
            peak = float(np.abs(xf).max())
            raise InvalidInputError(
                f"|sample| up to {peak:.1f} uV does not fit {f.name.lower()} at scale_uv={scale} "
                f"(range ±{lim * scale:.1f} uV); raise scale_uv or use int24"
            )
        c = counts.astype(np.int32)
        if f is SampleFormat.INT16:
            payload = c.astype("<i2").tobytes()
        else:
            u = c.astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
            payload = np.ascontiguousarray(u).tobytes()
    header = P.pack_header(FrameType.DATA, _check_seq(seq), ch, n, f, _check_ts(timestamp_us), scale, payload_len)
    return P.finish_frame(header, payload)


def _name_bytes(value: str, field: str) -> bytes:
    b = value.encode("utf-8")
    if len(b) > _MAX_NAME:
        raise InvalidInputError(f"{field} is {len(b)} bytes in UTF-8; at most {_MAX_NAME} fit")
    return bytes([len(b)]) + b


def encode_device_info(seq: int, timestamp_us: int, info: DeviceInfo) -> bytes:
    """Encode a device-info frame (sample rate in mHz, channels, nominal format, layout, firmware)."""
    fs_mhz = int(round(info.fs_hz * 1000))
    if not 0 < fs_mhz < (1 << 32):
        raise InvalidInputError(f"fs_hz must be in (0, 4294967) Hz, got {info.fs_hz}")
    if not 0 < info.n_channels <= 0xFFFF:
        raise InvalidInputError(f"n_channels must be in [1, 65535], got {info.n_channels}")
    f = P.sample_format(info.fmt)
    payload = (
        _INFO_FIXED.pack(fs_mhz, info.n_channels, info.samples_per_frame, int(f), 0, info.scale_uv)
        + _name_bytes(info.layout, "layout")
        + _name_bytes(info.firmware, "firmware")
    )
    header = P.pack_header(
        FrameType.DEVICE_INFO, _check_seq(seq), info.n_channels, 0, SampleFormat.NONE, _check_ts(timestamp_us), 0.0, len(payload)
    )
    return P.finish_frame(header, payload)


def encode_error(seq: int, timestamp_us: int, code: int, message: str) -> bytes:
    """Encode an error frame (16-bit device error code plus a UTF-8 message)."""
    if not 0 <= code <= 0xFFFF:
        raise InvalidInputError(f"error code must be in [0, 65535], got {code}")
    payload = _ERROR_FIXED.pack(code) + _name_bytes(message, "message")
    header = P.pack_header(FrameType.ERROR, _check_seq(seq), 0, 0, SampleFormat.NONE, _check_ts(timestamp_us), 0.0, len(payload))
    return P.finish_frame(header, payload)


def _read_name(payload: bytes, pos: int, field: str, where: str) -> tuple[str, int]:
    if pos >= len(payload):
        raise ProtocolError(f"{where}: {field} length byte expected at payload offset {pos}, payload is {len(payload)} bytes")
    n = payload[pos]
    end = pos + 1 + n
    if end > len(payload):
        raise ProtocolError(f"{where}: {field} declares {n} bytes at payload offset {pos}, only {len(payload) - pos - 1} left")
    return payload[pos + 1 : end].decode("utf-8", errors="replace"), end


def parse_device_info(payload: bytes, where: str = "device-info frame") -> DeviceInfo:
    """Parse a device-info payload (raises :class:`ProtocolError` naming the offset if malformed)."""
    if len(payload) < _INFO_FIXED.size + 2:
        raise ProtocolError(f"{where}: payload is {len(payload)} bytes, expected at least {_INFO_FIXED.size + 2}")
    fs_mhz, ch, spf, fmt, _res, scale = _INFO_FIXED.unpack_from(payload, 0)
    try:
        fmt_name = SampleFormat(fmt).name.lower()
    except ValueError:
        raise ProtocolError(f"{where}: sample format code at payload offset 8 is {fmt}, expected 1, 2 or 3") from None
    layout, pos = _read_name(payload, _INFO_FIXED.size, "layout", where)
    firmware, _ = _read_name(payload, pos, "firmware", where)
    return DeviceInfo(fs_mhz / 1000.0, ch, layout, firmware, spf, fmt_name, float(scale))



def parse_error(payload: bytes, where: str = "error frame") -> DeviceErrorReport:
    """Parse an error payload: 16-bit code, then a length-prefixed UTF-8 message."""
    if len(payload) < 3:
        raise ProtocolError(f"{where}: error payload is {len(payload)} bytes, expected >= 3")
    (code,) = _ERROR_FIXED.unpack_from(payload, 0)
    msg, _ = _read_name(payload, 2, "message", where)
    return DeviceErrorReport(code, msg)


def decode_samples(buf: bytearray, start: int, n: int, ch: int, fmt: int, scale: float) -> NDArray[np.float32]:
    """``n`` samples x ``ch`` channels of format ``fmt`` at ``buf[start:]``, times ``scale``, as float32 µV."""
    count = n * ch
    if fmt == SampleFormat.INT16:
        raw = np.frombuffer(buf, dtype="<i2", count=count, offset=start)
    elif fmt == SampleFormat.FLOAT32:
        raw = np.frombuffer(buf, dtype="<f4", count=count, offset=start)
    else:
        b = np.frombuffer(buf, dtype=np.uint8, count=3 * count, offset=start).reshape(count, 3).astype(np.int32)
        raw = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) ^ 0x800000) - 0x800000
    out = raw.astype(np.float32)
    out *= np.float32(scale)
    return out.reshape(n, ch)
