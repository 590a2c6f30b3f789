"""Host side of the bands (no torch): frame codec, serial reader, simulated band, OpenBCI, BrainFlow and LSL sources.

See ``firmware_bridge/PROTOCOL.md`` for the wire format. Everything the runtime
needs is importable from here::

    from edgeemg.bridge import open_band, SimulatedBand, Block, Gap, GapKind
"""

from edgeemg.bridge.band import Band, BandItem, BandStats, Block, Gap, GapKind
from edgeemg.bridge.clock import ClockMapper
from edgeemg.bridge.codec import encode_device_info, encode_error, encode_frame
from edgeemg.bridge.decoder import FrameDecoder
from edgeemg.bridge.frames import DecoderStats, DeviceErrorReport, DeviceInfo, Frame
from edgeemg.bridge.openbci import CytonDecoder, encode_cyton_packet, open_cyton
from edgeemg.bridge.protocol import FrameType, SampleFormat
from edgeemg.bridge.routing import BoundedQueue
from edgeemg.bridge.serial_band import SerialBand
from edgeemg.bridge.band_sim import band_sim_main
from edgeemg.bridge.sim_source import TimedTruthEvent
from edgeemg.bridge.simulated import SimulatedBand
from edgeemg.bridge.sources import open_band

__all__ = [
    "Band", "BandItem", "BandStats", "Block", "BoundedQueue", "ClockMapper", "CytonDecoder", "DecoderStats",
    "DeviceErrorReport", "DeviceInfo", "Frame", "FrameDecoder", "FrameType", "Gap", "GapKind", "SampleFormat",
    "SerialBand", "SimulatedBand", "TimedTruthEvent", "band_sim_main", "encode_cyton_packet", "encode_device_info",
    "encode_error", "encode_frame", "open_band", "open_cyton",
]
