"""What the frame decoder yields: decoded frames, the band's self-description, decoder counters.

Every band source (serial, OpenBCI, BrainFlow, LSL, simulated) speaks these
types, so the band layer above handles them all alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edgeemg.bridge.protocol import FrameType
from edgeemg.errors import DictConfig


@dataclass(frozen=True)
class DeviceInfo(DictConfig):
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

