"""stdout is data: send everything else written there to stderr, at the Python and the descriptor level.

torch.onnx, onnxruntime's quantizer and the TFLite converter print progress to
stdout, some of it from C++ straight to file descriptor 1, where redirecting
``sys.stdout`` alone would not catch it. The command line runs every verb inside
:func:`stdout_to_stderr` and writes its data to the stream it yields; the
exporters use it too, so a Python caller's stdout stays clean as well.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[TextIO]:
    """Redirect ``sys.stdout`` and descriptor 1 to stderr for the body; yield a stream on the real stdout.

    Nesting is safe: an inner call yields the outer redirect's target (stderr)
    and restores it on exit.
    """
    sys.stdout.flush()
    real_fd = os.dup(1)
    real = sys.stdout
    try:
        on_fd1 = real.fileno() == 1
    except (AttributeError, OSError, ValueError):  # a test's capture object is not descriptor 1
        on_fd1 = False
    out = os.fdopen(os.dup(real_fd), "w", buffering=1) if on_fd1 else real
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield out
    finally:
        sys.stdout.flush()
        sys.stdout = real
        if on_fd1:
            out.close()
        os.dup2(real_fd, 1)
        os.close(real_fd)


__all__ = ["stdout_to_stderr"]
