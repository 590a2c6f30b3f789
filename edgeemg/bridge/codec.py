"""Frame encoder and incremental decoder for the edgeemg band protocol.

The decoder is the host's guarantee that it never loses or invents a sample
silently: it accepts arbitrary byte chunks (1 byte to many KiB, as a serial
driver delivers them), yields only frames whose header CRC-16 *and* frame CRC-32
both hold, resynchronises after garbage without ever skipping past the start of
a later intact frame, and counts everything it throws away.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edgeemg.bridge import protocol as P
from edgeemg.bridge.protocol import FrameType, SampleFormat
from edgeemg.errors import InvalidInputError, ProtocolError

logger = logging.getLogger(__name__)

_INFO_FIXED = struct.Struct("<IHHBBf")  # fs_mhz, n_channels, samples_per_frame, fmt, reserved, scale_uv
_ERROR_FIXED = struct.Struct("<H")
_MAX_NAME = 255
_EMPTY = np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class DeviceInfo:
    """What a band says about itself in its device-info frame.

    The runtime checks ``fs_hz`` and ``n_channels`` against a bundle's manifest
    before decoding anything, so these come from the band, never from a guess.
    """

    fs_hz: float  # sample rate, Hz (sent as an integer number of millihertz)
    n_channels: int
    layout: str  # electrode layout name, e.g. "hdemg-13x5"
    firmware: str  # firmware version string
    samples_per_frame: int = 0  # nominal samples per data frame (0: unknown)
    fmt: str = "int16"  # nominal sample format name
    scale_uv: float = 0.0  # nominal µV per count (each data frame carries its own)

    def to_dict(self) -> dict:
        return {
            "fs_hz": self.fs_hz,
            "n_channels": self.n_channels,
            "layout": self.layout,
            "firmware": self.firmware,
            "samples_per_frame": self.samples_per_frame,
            "fmt": self.fmt,
            "scale_uv": self.scale_uv,
        }


@dataclass(frozen=True)
class DeviceErrorReport:
    """An error frame: the band telling the host something went wrong on its side."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame.

    Attributes
    ----------
    kind : FrameType
    seq : int
        16-bit sequence number (wraps 65535 -> 0); shared by all frame types.
    timestamp_us : int
        Device clock (µs) of the frame's first sample (for non-data frames: when sent).
    samples : ndarray of float32, shape (n_samples, n_channels)
        Microvolts; empty (0, 0) for non-data frames.
    lost_before : int
        Frames missing between the previous decoded frame and this one, from the
        sequence gap modulo 2**16 (0 for the first frame after a reset, and for
        the first frame after the band restarted).
    offset : int
        Byte offset of the frame's first sync byte in the decoder's input stream.
    info, error
        The payload of device-info and error frames (``None`` otherwise).
    """

    kind: FrameType
    seq: int
    timestamp_us: int
    samples: NDArray[np.float32]
    lost_before: int = 0
    offset: int = 0
    info: DeviceInfo | None = None
    error: DeviceErrorReport | None = None
    restart: bool = False  # the device clock went backwards: the band rebooted (its seq restarted too)

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])


@dataclass(frozen=True)
class DecoderStats:
    """Counters of a :class:`FrameDecoder` (a snapshot; the decoder keeps counting).

    ``crc_errors`` counts candidate frames rejected by either CRC (header CRC-16
    or frame CRC-32); ``resyncs`` counts how often the decoder lost frame
    alignment and had to search forward; ``lost_frames`` sums sequence gaps;
    ``restarts`` counts band reboots (device clock back to an earlier time),
    whose sequence jump is not a loss; ``bytes_discarded`` counts input bytes
    that belonged to no valid frame.
    """

    frames: int = 0
    data_frames: int = 0
    samples: int = 0
    bytes_in: int = 0
    crc_errors: int = 0
    resyncs: int = 0
    lost_frames: int = 0
    bytes_discarded: int = 0
    bad_headers: int = 0  # CRC-valid headers with an impossible layout or unknown version/type
    restarts: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


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


def _decode_samples(buf: bytearray, start: int, n: int, ch: int, fmt: int, scale: float) -> NDArray[np.float32]:
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


class FrameDecoder:
    """Incremental decoder: ``feed(bytes) -> list[Frame]`` for any chunking.

    Notes
    -----
    Resynchronisation: at each position the decoder looks for the two sync
    bytes, checks the header CRC-16 (so a corrupted length field is rejected at
    once instead of stalling the stream while a bogus payload "arrives"), then the
    frame CRC-32. On any failure it discards exactly one byte and searches again
    from there, so it never skips past the first byte of a later intact frame.

    Lost frames are counted from sequence gaps modulo 2**16: a gap of 70 000
    frames reads as 4 464. The band layer cross-checks gaps against device
    timestamps, which do not wrap. A frame whose device timestamp is earlier
    than the previous frame's means the band rebooted (its sequence and clock
    start again): it is flagged ``restart`` and counted in ``restarts``, and
    its sequence jump is not counted as lost frames.

    ``feed`` never raises on malformed input: everything bad is counted in
    :attr:`stats` (and logged at DEBUG), because a decoder on a noisy cable must
    keep going.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._last_seq: int | None = None
        self._last_ts: int | None = None
        self._in_sync = True
        self._c = dict.fromkeys(DecoderStats.__dataclass_fields__, 0)

    @property
    def stats(self) -> DecoderStats:
        return DecoderStats(**self._c)

    @property
    def pending_bytes(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self, *, keep_sequence: bool = True) -> None:
        """Drop buffered partial bytes (e.g. after the port reconnects).

        With ``keep_sequence`` the next frame's ``lost_before`` still measures the
        gap from the last frame before the reset, which is how a reconnect gap is sized.
        The dropped bytes are counted as discarded.
        """
        self._c["bytes_discarded"] += len(self._buf)
        self._base += len(self._buf)
        self._buf.clear()
        self._in_sync = True
        if not keep_sequence:
            self._last_seq = self._last_ts = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Append ``data`` to the stream and return every frame it completes, in order."""
        c = self._c
        c["bytes_in"] += len(data)
        buf = self._buf
        buf += data
        out: list[Frame] = []
        i = 0
        n_buf = len(buf)
        sync = P.SYNC
        hsize = P.HEADER_SIZE
        while True:
            j = buf.find(sync, i)
            if j < 0:
                # keep a trailing first sync byte: it may be the start of a frame
                keep = 1 if n_buf > i and buf[-1] == sync[0] else 0
                self._discard(n_buf - keep - i)
                i = n_buf - keep
                break
            if j > i:
                self._discard(j - i)
                i = j
            if n_buf - j < hsize:
                break
            _s, ver, ftype, seq, ch, ns, fmt, _fl, ts, scale, plen, hcrc = P.HEADER.unpack_from(buf, j)
            if P.crc16_ccitt(memoryview(buf)[j : j + P.HEADER_CRC_OFFSET]) != hcrc:
                c["crc_errors"] += 1
                logger.debug("header CRC mismatch at byte offset %d", self._base + j)
                self._discard(1)
                i = j + 1
                continue
            total = hsize + plen + P.CRC_SIZE
            if n_buf - j < total:
                break
            body_end = j + hsize + plen
            want = int.from_bytes(buf[body_end : body_end + 4], "little")
            got = P.crc32(memoryview(buf)[j:body_end])
            if got != want:
                c["crc_errors"] += 1
                logger.debug(
                    "frame CRC mismatch at byte offset %d (seq %d): expected 0x%08X, got 0x%08X",
                    self._base + j, seq, want, got,
                )
                self._discard(1)
                i = j + 1
                continue
            frame = self._build(buf, j, ver, ftype, seq, ch, ns, fmt, ts, scale, plen)
            i = j + total
            if frame is None:  # CRC-valid but not understood: skip it whole, keep sequence tracking
                c["bytes_discarded"] += total
                continue
            self._in_sync = True
            out.append(frame)
        if i:
            del buf[:i]
            self._base += i
        return out

    def _discard(self, n: int) -> None:
        if n <= 0:
            return
        if self._in_sync:
            self._c["resyncs"] += 1
            self._in_sync = False
        self._c["bytes_discarded"] += n

    def _track_seq(self, seq: int, ts: int) -> tuple[int, bool]:
        """(frames lost before this one, whether the band restarted) from the sequence and the device clock."""
        restart = self._last_ts is not None and ts < self._last_ts
        lost = 0 if self._last_seq is None or restart else (seq - self._last_seq - 1) % P.SEQ_MODULUS
        self._last_seq, self._last_ts = seq, ts
        self._c["lost_frames"] += lost
        self._c["restarts"] += restart
        return lost, restart

    def _build(self, buf, j, ver, ftype, seq, ch, ns, fmt, ts, scale, plen) -> Frame | None:
        c = self._c
        offset = self._base + j
        if ver != P.PROTOCOL_VERSION:
            c["bad_headers"] += 1
            logger.warning("frame at byte offset %d has protocol version %d, expected %d; skipped", offset, ver, P.PROTOCOL_VERSION)
            self._track_seq(seq, ts)
            return None
        if ftype == FrameType.DATA:
            nbytes = P.SAMPLE_BYTES.get(fmt) if fmt in (1, 2, 3) else None
            if nbytes is None or ns * ch * nbytes != plen or ch == 0:
                c["bad_headers"] += 1
                logger.warning(
                    "data frame seq %d at byte offset %d: payload_len %d does not match %d samples x %d channels in format %d",
                    seq, offset, plen, ns, ch, fmt,
                )
                self._track_seq(seq, ts)
                return None
            samples = _decode_samples(buf, j + P.HEADER_SIZE, ns, ch, fmt, scale)
            lost, restart = self._track_seq(seq, ts)
            c["frames"] += 1
            c["data_frames"] += 1
            c["samples"] += ns
            return Frame(FrameType.DATA, seq, ts, samples, lost, offset, restart=restart)
        payload = bytes(buf[j + P.HEADER_SIZE : j + P.HEADER_SIZE + plen])
        where = f"frame seq {seq} at byte offset {offset}"
        try:
            if ftype == FrameType.DEVICE_INFO:
                info, err = parse_device_info(payload, where), None
            elif ftype == FrameType.ERROR:
                if len(payload) < 3:
                    raise ProtocolError(f"{where}: error payload is {len(payload)} bytes, expected >= 3")
                (code,) = _ERROR_FIXED.unpack_from(payload, 0)
                msg, _ = _read_name(payload, 2, "message", where)
                info, err = None, DeviceErrorReport(code, msg)
            else:
                raise ProtocolError(f"{where}: unknown frame type {ftype}, expected 1, 2 or 3")
        except ProtocolError as exc:
            c["bad_headers"] += 1
            logger.warning("%s; skipped", exc)
            self._track_seq(seq, ts)
            return None
        lost, restart = self._track_seq(seq, ts)
        c["frames"] += 1
        return Frame(FrameType(ftype), seq, ts, _EMPTY, lost, offset, info, err, restart)
