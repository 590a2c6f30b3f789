"""A minimal XDF 1.0 writer for tests, written from the specification (github.com/sccn/xdf/wiki/Specifications),
independently of pyxdf (which only reads): magic ``XDF:``, then chunks
``[NumLengthBytes][Length][Tag u16][content]`` little-endian; tags 1 FileHeader, 2 StreamHeader,
3 Samples, 4 ClockOffset, 6 StreamFooter; a sample is ``[TimeStampBytes 0|8][f64 stamp]`` then values
(numeric in the channel format; strings as ``[NumLengthBytes][Length][utf-8]`` per channel)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

_FMT = {"float32": "<f4", "double64": "<f8", "int16": "<i2", "int32": "<i4"}


def _varlen(n: int) -> bytes:
    if n < 256:
        return bytes([1, n])
    if n < 2**32:
        return bytes([4]) + struct.pack("<I", n)
    return bytes([8]) + struct.pack("<Q", n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


@dataclass
class XdfStream:
    """One stream: ``data`` (n, channels) numeric array, or a list of strings (a marker stream)."""

    name: str
    type: str
    data: object
    stamps: np.ndarray
    srate: float = 0.0
    fmt: str = "float32"
    labels: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    stamp_every: int = 1  # a stamp on every k-th sample only (the spec lets readers interpolate the rest)

    def header(self) -> bytes:
        n_ch = 1 if self.fmt == "string" else np.asarray(self.data).shape[1]
        chans = "".join(f"<channel><label>{escape(lab)}</label><unit>{escape(u)}</unit><type>{self.type}</type>"
                        "</channel>" for lab, u in zip(self.labels, self.units))
        return (f'<?xml version="1.0"?><info><name>{escape(self.name)}</name><type>{self.type}</type>'
                f"<channel_count>{n_ch}</channel_count><nominal_srate>{self.srate}</nominal_srate>"
                f"<channel_format>{self.fmt}</channel_format><source_id>{self.name}-src</source_id>"
                f"<created_at>{self.stamps[0]}</created_at><desc><channels>{chans}</channels></desc>"
                "</info>").encode()

    def samples(self, lo: int, hi: int) -> bytes:
        out = bytearray(_varlen(hi - lo))
        for i in range(lo, hi):
            out += (b"\x08" + struct.pack("<d", self.stamps[i])) if i % self.stamp_every == 0 else b"\x00"
            if self.fmt == "string":
                s = str(self.data[i]).encode()
                out += _varlen(len(s)) + s
            else:
                out += np.asarray(self.data[i], dtype=_FMT[self.fmt]).tobytes()
        return bytes(out)

    def footer(self) -> bytes:
        return (f'<?xml version="1.0"?><info><first_timestamp>{self.stamps[0]}</first_timestamp>'
                f"<last_timestamp>{self.stamps[-1]}</last_timestamp><sample_count>{len(self.stamps)}</sample_count>"
                "</info>").encode()


def write_xdf(path: Path, streams: list[XdfStream], chunk_samples: int = 100) -> Path:
    """Headers, then interleaved sample chunks of ``chunk_samples``, a clock offset (0 s) per stream, footers."""
    out = bytearray(b"XDF:")
    out += _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    for sid, s in enumerate(streams, 1):
        out += _chunk(2, struct.pack("<I", sid) + s.header())
    n_max = max(len(s.stamps) for s in streams)
    for lo in range(0, n_max, chunk_samples):
        for sid, s in enumerate(streams, 1):
            hi = min(lo + chunk_samples, len(s.stamps))
            if lo < hi:
                out += _chunk(3, struct.pack("<I", sid) + s.samples(lo, hi))
    for sid, s in enumerate(streams, 1):
        out += _chunk(4, struct.pack("<Idd", sid, float(s.stamps[-1]), 0.0))
        out += _chunk(6, struct.pack("<I", sid) + s.footer())
    Path(path).write_bytes(bytes(out))
    return Path(path)
