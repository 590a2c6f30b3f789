"""An OpenBCI Cyton on a pseudo-terminal, for the BrainFlow and pyserial-only Cyton tests."""

from __future__ import annotations


class CytonOnPty:
    """A Cyton on a pseudo-terminal, as BrainFlow's own CI emulates one: answers ``v`` with a banner ending
    in ``$$$``, streams ``packets`` on ``b`` (bursts of 25 every 10 ms), stops on ``s``."""

    def __init__(self, packets: list[bytes]) -> None:
        import os
        import pty
        import threading

        self.master, self._slave = pty.openpty()
        self.port = os.ttyname(self._slave)
        self.packets = packets
        self._streaming = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import os
        import select
        import time

        sent = 0
        while True:
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
                time.sleep(0.01)

    def close(self) -> None:
        import os

        os.close(self.master)
        os.close(self._slave)
