"""Wire constants of the edgeemg band protocol, version 1 (``firmware_bridge/PROTOCOL.md``).

This module is the single Python source of truth for byte layout; the C
reference encoder (``firmware_bridge/edgeemg_frame.h``) mirrors it and the golden
vectors in ``firmware_bridge/vectors/`` keep the two byte-identical.

Checksums come from the standard library's C implementations rather than a
hand-written copy: ``binascii.crc_hqx(data, 0xFFFF)`` is CRC-16/CCITT-FALSE
(header check) and ``binascii.crc32`` is CRC-32/ISO-HDLC (whole-frame check).
"""

from __future__ import annotations

import binascii
import struct
from enum import IntEnum

import numpy as np

#: Two sync bytes open every frame. 0xA5 0x5A alternate every bit, so a stuck
#: line or a run of 0x00/0xFF never looks like a frame start.
SYNC = b"\xa5\x5a"
PROTOCOL_VERSION = 1

#: Fixed header: sync(2) version(1) type(1) seq(2) n_channels(2) n_samples(2)
#: fmt(1) flags(1) timestamp_us(8) scale_uv(4) payload_len(2) header_crc(2).
HEADER = struct.Struct("<2sBBHHHBBQfHH")
HEADER_SIZE = HEADER.size  # 28
#: The header CRC covers every header byte before it.
HEADER_CRC_OFFSET = HEADER_SIZE - 2
CRC_SIZE = 4
FRAME_OVERHEAD = HEADER_SIZE + CRC_SIZE
MAX_PAYLOAD = 0xFFFF
SEQ_MODULUS = 1 << 16

_HEADER_NO_CRC = struct.Struct("<2sBBHHHBBQfH")
_U32 = struct.Struct("<I")


class FrameType(IntEnum):
    """Frame types; a decoder counts unknown ones as unsupported and skips them whole."""

    DATA = 1
    DEVICE_INFO = 2
    ERROR = 3


class SampleFormat(IntEnum):
    """Sample encodings of a data frame's payload (little-endian, row-major (sample, channel))."""

    NONE = 0  # non-data frames
    INT16 = 1
    INT24 = 2
    FLOAT32 = 3


#: Bytes per sample value for each format.
SAMPLE_BYTES = {SampleFormat.INT16: 2, SampleFormat.INT24: 3, SampleFormat.FLOAT32: 4}
#: Largest count each integer format holds (symmetric range; -max-1 is also legal on the wire).
SAMPLE_MAX = {SampleFormat.INT16: (1 << 15) - 1, SampleFormat.INT24: (1 << 23) - 1}
#: Scale used by :func:`~edgeemg.bridge.codec.encode_frame` when none is given: int16 at
#: 0.25 µV/count spans ±8.2 mV (surface EMG rarely exceeds 5 mV); int24 at 0.01 µV spans ±84 mV.
DEFAULT_SCALE_UV = {SampleFormat.INT16: 0.25, SampleFormat.INT24: 0.01, SampleFormat.FLOAT32: 1.0}

_FORMAT_NAMES = {"int16": SampleFormat.INT16, "int24": SampleFormat.INT24, "float32": SampleFormat.FLOAT32}


def sample_format(fmt: str | int | SampleFormat) -> SampleFormat:
    """Normalise ``"int16" | "int24" | "float32"`` (or the enum / its value) to :class:`SampleFormat`."""
    from edgeemg.errors import InvalidInputError

    if isinstance(fmt, str):
        try:
            return _FORMAT_NAMES[fmt.lower()]
        except KeyError:
            raise InvalidInputError(
                f"Invalid sample format '{fmt}'. Allowed values are {', '.join(_FORMAT_NAMES)}."
            ) from None
    try:
        f = SampleFormat(int(fmt))
    except ValueError:
        raise InvalidInputError(f"Invalid sample format code {fmt!r}; expected 1 (int16), 2 (int24) or 3 (float32)") from None
    if f is SampleFormat.NONE:
        raise InvalidInputError("sample format NONE is only for non-data frames")
    return f


def crc16_ccitt(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout); check("123456789") = 0x29B1."""
    return binascii.crc_hqx(data, 0xFFFF)


def crc32(data: bytes | bytearray | memoryview) -> int:
    """CRC-32/ISO-HDLC (zlib, Ethernet); check("123456789") = 0xCBF43926."""
    return binascii.crc32(data)


def pack_header(
    frame_type: FrameType,
    seq: int,
    n_channels: int,
    n_samples: int,
    fmt: SampleFormat,
    timestamp_us: int,
    scale_uv: float,
    payload_len: int,
) -> bytes:
    """Header bytes including the header CRC (no validation: callers validate)."""
    head = _HEADER_NO_CRC.pack(
        SYNC, PROTOCOL_VERSION, int(frame_type), seq, n_channels, n_samples, int(fmt), 0, timestamp_us, scale_uv, payload_len
    )
    return head + crc16_ccitt(head).to_bytes(2, "little")


def finish_frame(header: bytes, payload: bytes) -> bytes:
    """Append the payload and the CRC-32 of header + payload."""
    body = header + payload
    return body + _U32.pack(crc32(body))


# numpy dtypes of the payload, by format (int24 is unpacked by hand)
PAYLOAD_DTYPE = {SampleFormat.INT16: np.dtype("<i2"), SampleFormat.FLOAT32: np.dtype("<f4")}
