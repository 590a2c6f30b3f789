"""The simulators without numba (a board install, no `jit` extra) give the numba build's signals.

``edgeemg._jit.njit`` leaves the loop kernels as plain Python there; the two
that would take minutes that way (the motor-unit MUAPs and spike trains) have
numpy forms. Each numpy form is checked against its numba kernel here, and a
child process with numba unimportable simulates every task's band, which must
be bit-identical to this process's (numba) one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeemg.data import _mu_muap
from edgeemg.data._mu_pool import make_pool

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("gait", "muscle", "keystroke", "motor-units")


def _templates(have_numba: bool, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    monkeypatch.setattr(_mu_muap, "HAVE_NUMBA", have_numba)
    pool = make_pool(3, 6)
    return _mu_muap.muap_templates(pool, _mu_muap.electrode_positions(), 2048.0, np.random.default_rng(1), 1.0)


def test_numpy_muaps_equal_the_numba_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _templates(True, monkeypatch)
    got = _templates(False, monkeypatch)
    assert np.abs(ref).max() > 1.0  # microvolts: a real potential, not zeros
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * float(np.abs(ref).max()))


def test_numpy_spike_trains_are_bit_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    templates = rng.standard_normal((5, 30, 4)).astype(np.float32)
    spikes = np.sort(rng.integers(0, 1000, 700))  # overlapping MUAPs, some cut at the end
    units = rng.integers(0, 5, spikes.size)
    out = {}
    for have in (True, False):
        monkeypatch.setattr(_mu_muap, "HAVE_NUMBA", have)
        out[have] = np.full((1000, 4), 1.5, np.float32)
        _mu_muap.add_trains(out[have], templates, spikes, units)
    np.testing.assert_array_equal(out[False], out[True])


_CHILD = """
import sys
sys.modules["numba"] = None  # as on a board install without the jit extra
import numpy as np
from edgeemg.data.bands import band_signal
from edgeemg.dsp._backend import backend_name
assert backend_name() == "scipy"
np.savez(sys.argv[1], **{t: band_signal(t, 1.0, seed=0).emg for t in sys.argv[2:]})
"""


def test_every_task_simulates_the_same_band_without_numba(tmp_path: Path) -> None:
    from edgeemg.data.bands import band_signal

    out = tmp_path / "bands.npz"
    subprocess.run([sys.executable, "-c", _CHILD, str(out), *TASKS], cwd=ROOT, check=True, timeout=600)
    without = np.load(out)
    for task in TASKS:
        np.testing.assert_array_equal(without[task], band_signal(task, 1.0, seed=0).emg, err_msg=task)
