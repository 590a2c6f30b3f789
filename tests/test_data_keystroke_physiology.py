"""The keystroke simulator's physiological claims (issue 15), checked against its own ground truth.

Each test names the claim of :mod:`edgeemg.data._ks_muscles` or
:mod:`edgeemg.data._ks_electrodes` it checks: deep units are small on every
electrode, the wrist movers follow the reach, a press's units fire at
ballistic rates, and the keys' spatial patterns survive the band well enough
for a simple classifier given the true press times, while a new session and a
new user still cost accuracy.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from edgeemg.data._ks_electrodes import muap_templates
from edgeemg.data._ks_muscles import WRIST_POOLS, burst_spikes, make_subject, wrist_drive
from edgeemg.data._ks_typing import _PHYS, _PHYS_INDEX, _Press
from edgeemg.data.sim_keystroke import KeystrokeSimConfig

FS = 2000.0
CFG = KeystrokeSimConfig()
FCR, FCU, ECR, ECU = range(4)


@pytest.fixture(scope="module")
def subject():
    return make_subject(0, CFG)


def test_deep_units_are_small_and_spread_on_every_electrode(subject):
    """Fuglevand 1992 / Barkhaus & Nandedkar 1994: amplitude falls steeply with depth; deep units spread wide."""
    hand = 0
    tmpl = muap_templates(subject, hand, float(subject.band_angle[hand]), np.ones(16), FS, CFG)
    peak = np.abs(tmpl).max(axis=1)  # (units, electrodes)
    depth = subject.unit_depth[hand]
    rel = peak.max(axis=1) / subject.unit_amp[hand]  # best electrode, per unit amplitude
    rho, _ = stats.spearmanr(depth, rel)
    assert rho < -0.9
    share3 = np.sort(peak**2, axis=1)[:, -3:].sum(axis=1) / (peak**2).sum(axis=1)  # energy on the 3 nearest
    shallow, deep = depth < 6.0, depth > 10.0
    assert shallow.sum() > 10 and deep.sum() > 10
    assert rel[deep].mean() < rel[shallow].mean() / 3  # 42 vs 11 uV in Barkhaus & Nandedkar: a factor ~4
    assert share3[shallow].mean() > share3[deep].mean() + 0.1


def test_wrist_movers_follow_the_reach():
    """Baker 2007 / Dennerlein 2007: sideways reach moves the hand radially or ulnarly; upward reach extends."""
    d = {k: wrist_drive(_PHYS[k]) for k in ("f", "g", "a", "j", "h", "d", "e", "3")}
    # left index reaching right (g) and right index reaching left (h) both go radial
    assert d["g"][FCR] > d["f"][FCR] and d["g"][ECR] > d["f"][ECR]
    assert d["h"][FCR] > d["j"][FCR] and d["h"][ECR] > d["j"][ECR]
    assert d["g"][FCU] == d["f"][FCU]  # ... and not ulnar
    assert d["a"][FCU] > d["a"][FCR]  # the little finger strikes on the ulnar side
    # reaching up lifts the hand with both extensors, two rows more than one; the home row does not
    assert d["d"][ECR] == d["d"][ECU] == 0.0 and 0 < d["e"][ECR] < d["3"][ECR] and 0 < d["e"][ECU] < d["3"][ECU]
    assert all(np.all((v >= 0) & (v <= 1)) for v in d.values())


def _spike_counts(subject, key: str, n: int, seed: int) -> np.ndarray:
    """Mean spikes per unit of one hand over ``n`` isolated presses of ``key``."""
    rng = np.random.default_rng(seed)
    hand = _PHYS[key].hand
    counts = np.zeros(subject.unit_finger[hand].size)
    for i in range(n):
        t = 1.0 + i
        p = _Press(key, _PHYS_INDEX[key], press=t, release=t + 0.1, onset=t - CFG.emd_s)
        _, units, _ = burst_spikes(subject, CFG, p, rng, FS)
        counts += np.bincount(units, minlength=counts.size)
    return counts / n


def test_press_spikes_drive_the_keys_finger_and_wrist_movers(subject):
    """The spike truth: a radial reach recruits FCR/ECR more than the home key; the key's finger leads."""
    finger = subject.unit_finger[0]
    g, f = _spike_counts(subject, "g", 40, 1), _spike_counts(subject, "f", 40, 2)
    radial = (finger == 5 + FCR) | (finger == 5 + ECR)
    assert g[radial].sum() > 1.3 * f[radial].sum()
    index_flex = (finger == 1) & (subject.unit_kind[0] == 0)
    assert f[index_flex].sum() > 2 * f[(finger == 3) & (subject.unit_kind[0] == 0)].sum()  # index over ring
    names = [name for name, _ in WRIST_POOLS]
    assert names == ["FCR", "FCU", "ECR", "ECU"]


def test_a_press_fires_its_units_at_ballistic_rates(subject):
    """Desmedt & Godaux 1977: brief ballistic bursts reach 60-120 Hz; a driven unit fires several times per press."""
    rng = np.random.default_rng(3)
    p = _Press("f", _PHYS_INDEX["f"], press=1.0, release=1.1, onset=1.0 - CFG.emd_s)
    samples, units, _ = burst_spikes(subject, CFG, p, rng, FS)
    per_unit = np.bincount(units)
    busiest = int(np.argmax(per_unit))
    assert per_unit[busiest] >= 4
    isi = np.diff(np.sort(samples[units == busiest])) / FS
    assert 1.0 / isi.min() > 40.0  # faster than the <= 40 Hz of the old model's ceiling
    assert 1.0 / isi.min() <= 150.0
