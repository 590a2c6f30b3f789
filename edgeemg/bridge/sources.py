"""``open_band(source)``: one entry point for every kind of band, chosen by the source string's scheme.

==========================================  ==============================================================
source                                      band
==========================================  ==============================================================
``/dev/ttyACM0``, ``loop://``, a pty path   the edgeemg serial protocol (:class:`~edgeemg.bridge.SerialBand`)
``brainflow:BOARD[:PORT][?k=v&...]``        a BrainFlow board (:mod:`edgeemg.bridge.brainflow_band`)
``lsl:NAME_OR_TYPE[?timeout=S]``            a Lab Streaming Layer stream (:mod:`edgeemg.bridge.lsl_band`)
``cyton:PORT[?gain=24]``                    an OpenBCI Cyton through pyserial only (:mod:`edgeemg.bridge.openbci`)
==========================================  ==============================================================

The BrainFlow and LSL sources need the ``devices`` extra (``pip install
'edgeemg[devices]'``); without it they raise :class:`~edgeemg.errors.MissingExtraError`
naming it, and the serial path works as before.
"""

from __future__ import annotations

import importlib
from typing import Any

#: scheme -> "module:function" taking the rest of the source string and keyword arguments.
SOURCES = {
    "brainflow": "edgeemg.bridge.brainflow_band:open_brainflow",
    "lsl": "edgeemg.bridge.lsl_band:open_lsl",
    "cyton": "edgeemg.bridge.openbci:open_cyton_source",
}


def open_band(source: str, **kwargs: Any) -> Any:
    """Open the band that ``source`` names and return it open (device info known); ``start()`` before reading.

    Parameters
    ----------
    source : str
        See the module docstring. Anything without a known ``scheme:`` prefix
        is a serial port or pyserial URL.
    **kwargs
        Passed to the band (e.g. ``reconnect=`` for serial, ``channels=`` for BrainFlow and LSL).

    Examples
    --------
    >>> with open_band("brainflow:synthetic") as band:          # doctest: +SKIP
    ...     print(band.info.fs_hz, band.channel_names[:2])
    250.0 ('Fz', 'C3')
    """
    scheme, sep, rest = str(source).partition(":")
    if sep and scheme in SOURCES:
        module, _, func = SOURCES[scheme].partition(":")
        return getattr(importlib.import_module(module), func)(rest, **kwargs)
    from edgeemg.bridge.serial_band import open_band as open_serial

    return open_serial(source, **kwargs)


__all__ = ["SOURCES", "open_band"]
