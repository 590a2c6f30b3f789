"""An OpenBCI Cyton on a pseudo-terminal, for the BrainFlow and pyserial-only Cyton tests."""

from __future__ import annotations

import os
import pty
import select
import threading


class CytonOnPty:
    """A Cyton on a pseudo-terminal, as BrainFlow's own CI emulates one: answers ``v`` with a banner ending
    in ``$$$``, streams ``packets`` on ``b`` (bursts of 25 every ``burst_every_s``: 0.1 s is the Cyton's 250 Hz),
    stops on ``s``. ``close()`` stops its thread before closing the pty: a thread left polling a closed fd number
    would read the commands meant for the next pty that reuses it."""

    def __init__(self, packets: list[bytes], burst_every_s: float = 0.01) -> None:
        self.master, self._slave = pty.openpty()
        self.port = os.ttyname(self._slave)
        self.packets = packets
        self.burst_every_s = burst_every_s
        self._streaming = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sent = 0
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.01)
            if ready:
                try:
                    cmds = os.read(self.master, 64)
                except OSError:
                    return
                for c in cmds:
                    if c == ord("v"):
                        os.write(self.master, b"OpenBCI V3 8-16 channel\nOn Board ADS1299 Device ID: 0x3E\n$$$")
                    elif c == ord("b"):
                        self._streaming.set()
                    elif c == ord("s"):
                        self._streaming.clear()
            if self._streaming.is_set() and sent < len(self.packets):
                os.write(self.master, b"".join(self.packets[sent:sent + 25]))
                sent += 25
                self._stop.wait(self.burst_every_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        os.close(self.master)
        os.close(self._slave)
