"""OpenBCI Cyton adapter: its 33-byte packets behind the common band interface.

Packet (OpenBCI Cyton data format, 8 channels, 250 Hz)::

    [0]      0xA0 header
    [1]      sample number (0-255, +1 per sample)
    [2:26]   8 channels x 24-bit big-endian two's complement (ADS1299 counts)
    [26:32]  3 x int16 big-endian aux (accelerometer, depending on footer)
    [32]     footer 0xC0-0xC6 (0xC0: aux is accelerometer; others: other aux modes)

Microvolts = counts x 4.5 V / gain / (2^23 - 1) x 1e6. The Cyton sends no
timestamp and no CRC, so this adapter (unlike the edgeemg protocol):

* derives device time from the unwrapped sample counter (4000 µs per sample);
  gaps are detectable only modulo 256 samples (about 1 s), and after a reconnect
  the gap size is the counter difference modulo 256, which may understate it;
* resynchronises on a 0xA0 header whose byte 32 is a valid footer, which a
  random byte pair matches with probability 7/65536; a false lock breaks on the
  next packet.

For a live Cyton, prefer BrainFlow (``edgeemg run --source brainflow:cyton:PORT``,
the ``devices`` extra): it covers this ground (same µV, same counter gaps: a test
feeds the same bytes to both over a pty) and more (Daisy, WiFi shield, gain
commands, the board's handshake). This parser stays because it needs only
pyserial (a board install without the extra can still read a Cyton), because it
reads byte streams BrainFlow cannot be handed (a recording of raw packets, a
pty without the board's handshake), and as the reference the BrainFlow path is
tested against.
"""

from __future__ import annotations

import logging

import numpy as np

from edgeemg.bridge.frames import DecoderStats, DeviceInfo, Frame
from edgeemg.bridge.protocol import FrameType
from edgeemg.errors import InvalidInputError

logger = logging.getLogger(__name__)

PACKET_SIZE = 33
HEADER = 0xA0
FOOTERS = range(0xC0, 0xC7)
FS_HZ = 250.0
N_CHANNELS = 8
SAMPLE_US = 4000  # 1e6 / 250
ADS1299_VREF = 4.5


def cyton_scale_uv(gain: int = 24) -> float:
    """Microvolts per ADS1299 count at ``gain`` (1, 2, 4, 6, 8, 12 or 24)."""
    if gain not in (1, 2, 4, 6, 8, 12, 24):
        raise InvalidInputError(f"Invalid Cyton gain {gain}. Allowed values are 1, 2, 4, 6, 8, 12, 24.")
    return ADS1299_VREF / gain / (2**23 - 1) * 1e6


def encode_cyton_packet(sample_number: int, counts, aux=(0, 0, 0), footer: int = 0xC0) -> bytes:
    """Build one Cyton packet (for tests and simulators) from 8 raw 24-bit counts."""
    c = [int(v) for v in counts]
    if len(c) != N_CHANNELS or any(not -(1 << 23) <= v < (1 << 23) for v in c):
        raise InvalidInputError(f"counts must be 8 values in [-2**23, 2**23), got {counts!r}")
    if footer not in FOOTERS or not 0 <= sample_number <= 255:
        raise InvalidInputError(f"footer must be 0xC0-0xC6 and sample_number 0-255, got {footer:#x}, {sample_number}")
    out = bytearray([HEADER, sample_number])
    for v in c:
        out += (v & 0xFFFFFF).to_bytes(3, "big")
    for a in aux:
        out += int(a).to_bytes(2, "big", signed=True)
    out.append(footer)
    return bytes(out)


class CytonDecoder:
    """Incremental Cyton packet decoder with the :class:`FrameDecoder` interface.

    Each packet becomes a DATA :class:`Frame` with one sample; ``seq`` is the
    packet's sample number (modulus 256) and ``timestamp_us`` the unwrapped
    counter x 4000 µs. ``stats.crc_errors`` stays 0 (the format has no CRC).
    """

    seq_modulus = 256

    def __init__(self, gain: int = 24) -> None:
        self.scale_uv = cyton_scale_uv(gain)
        self._buf = bytearray()
        self._last: int | None = None
        self._count = 0  # unwrapped sample counter of the last packet
        self._in_sync = True
        self._c = dict.fromkeys(DecoderStats.__dataclass_fields__, 0)

    @property
    def stats(self) -> DecoderStats:
        return DecoderStats(**self._c)

    def reset(self, *, keep_sequence: bool = True) -> None:
        self._c["bytes_discarded"] += len(self._buf)
        self._buf.clear()
        self._in_sync = True
        if not keep_sequence:
            self._last = None

    def _discard(self, n: int) -> None:
        if n > 0:
            if self._in_sync:
                self._c["resyncs"] += 1
                self._in_sync = False
            self._c["bytes_discarded"] += n

    def feed(self, data: bytes) -> list[Frame]:
        c = self._c
        c["bytes_in"] += len(data)
        buf = self._buf
        buf += data
        out: list[Frame] = []
        i = 0
        good: list[int] = []
        while True:
            j = buf.find(HEADER, i)
            if j < 0:
                self._discard(len(buf) - i)
                i = len(buf)
                break
            self._discard(j - i)
            if len(buf) - j < PACKET_SIZE:
                i = j
                break
            if buf[j + PACKET_SIZE - 1] not in FOOTERS:
                self._discard(1)
                i = j + 1
                continue
            good.append(j)
            self._in_sync = True
            i = j + PACKET_SIZE
        if good:
            pk = np.frombuffer(bytes(buf[:i]), dtype=np.uint8)
            rows = pk[np.asarray(good)[:, None] + np.arange(PACKET_SIZE)]
            ch = rows[:, 2:26].reshape(-1, N_CHANNELS, 3).astype(np.int32)
            counts = (ch[..., 0] << 16) | (ch[..., 1] << 8) | ch[..., 2]
            counts = (counts ^ 0x800000) - 0x800000
            uv = (counts * self.scale_uv).astype(np.float32)
            for k, j in enumerate(good):
                sn = int(rows[k, 1])
                lost = 0
                if self._last is None:
                    self._count = sn
                else:
                    step = (sn - self._last) % 256 or 256
                    lost = step - 1
                    self._count += step
                self._last = sn
                c["lost_frames"] += lost
                c["frames"] += 1
                c["data_frames"] += 1
                c["samples"] += 1
                out.append(Frame(FrameType.DATA, sn, self._count * SAMPLE_US, uv[k : k + 1], lost, j))
        if i:
            del buf[:i]
        return out


def cyton_info(gain: int = 24) -> DeviceInfo:
    """The Cyton's fixed description (it sends none)."""
    return DeviceInfo(FS_HZ, N_CHANNELS, "openbci-cyton-8", "cyton", 1, "int24", cyton_scale_uv(gain))


def open_cyton(port: str, *, gain: int = 24, baudrate: int = 115200, **kwargs):
    """Open an OpenBCI Cyton on ``port`` behind the common band interface.

    Sends ``b`` (start streaming) on every (re)connect and ``s`` (stop) before
    closing. Keyword arguments are those of :class:`~edgeemg.bridge.serial_band.SerialBand`.
    """
    from edgeemg.bridge.serial_band import SerialBand

    return SerialBand(
        port,
        baudrate=baudrate,
        decoder_factory=lambda: CytonDecoder(gain),
        static_info=cyton_info(gain),
        on_connect=lambda ser: ser.write(b"b"),
        on_disconnect=lambda ser: ser.write(b"s"),
        **kwargs,
    ).open()


def open_cyton_source(spec: str, *, channels=None, **kwargs):
    """``open_band("cyton:PORT[?gain=24]")``: the hand-written Cyton reader, for installs without BrainFlow.

    ``edgeemg run --source cyton:/dev/ttyUSB0`` on a board install (no
    ``devices`` extra, or an arm64 board where BrainFlow's wheel does not load);
    ``brainflow:cyton:PORT`` is the fuller path where BrainFlow runs. The Cyton
    delivers its 8 channels in board order: ``channels`` (a selection) is
    refused, so the caller falls back to all 8 and the bundle check compares counts.

    Raises
    ------
    InvalidInputError
        An unknown parameter, a gain the ADS1299 does not have, or a channel selection.
    """
    from urllib.parse import parse_qsl

    port, _, query = spec.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    unknown = sorted(set(params) - {"gain"})
    if unknown or not port:
        raise InvalidInputError(f"cyton:{spec}: expected cyton:PORT[?gain=N], got " +
                                (f"unknown parameter(s) {unknown}" if unknown else "no port"))
    if channels is not None:
        raise InvalidInputError("cyton: the hand-written reader delivers the board's 8 channels in order; "
                                "select channels with brainflow:cyton:PORT?channels=...")
    try:
        gain = int(params.get("gain", 24))
    except ValueError:
        raise InvalidInputError(f"cyton:{spec}: gain must be an integer, got {params['gain']!r}") from None
    cyton_scale_uv(gain)  # refuses a gain the ADS1299 does not have
    return open_cyton(port, gain=gain, **kwargs)

