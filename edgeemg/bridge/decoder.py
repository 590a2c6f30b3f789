"""Incremental decoder for the edgeemg band protocol: bytes in any chunking -> frames.

The decoder is the host's guarantee that it never loses or invents a sample
silently: it accepts arbitrary byte chunks (1 byte to many KiB, as a serial
driver delivers them), yields only frames whose header CRC-16 *and* frame CRC-32
both hold, resynchronises after garbage without ever skipping past the start of
a later intact frame, and counts everything it throws away.
"""

from __future__ import annotations

import logging

import numpy as np

from edgeemg.bridge import protocol as P
from edgeemg.bridge.codec import decode_samples, parse_device_info, parse_error
from edgeemg.bridge.frames import DecoderStats, Frame
from edgeemg.bridge.protocol import FrameType
from edgeemg.errors import ProtocolError

logger = logging.getLogger(__name__)

_EMPTY = np.zeros((0, 0), dtype=np.float32)


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
            samples = decode_samples(buf, j + P.HEADER_SIZE, ns, ch, fmt, scale)
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
                info, err = None, parse_error(payload, where)
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
