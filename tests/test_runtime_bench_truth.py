"""True-event latency when a decoder reports truth under other names (motor units: head index vs unit ID).

Constructed by hand: a stream of one event per 20-sample window whose ``units``
list holds head indices, and simulator truth events carrying pool unit IDs. The
manifest's ``truth_events`` pairing (what the motor-unit export writes) must
make the bench count only the decoded units' truth spikes, each matched by its
own head inside its delay window, and give the exact latency built in.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeemg.runtime.truth import match_mapped_truth, match_truth, truth_map
from edgeemg.runtime.events import Event

FS = 2048.0
T0_US = 1_000_000


def _us(sample: int) -> int:
    return T0_US + int(round(sample * 1e6 / FS))


def _events(fired: dict[int, list[int]], n_windows: int, step: int = 20, window: int = 120) -> list[Event]:
    """One event per window (end = window - 1 + k*step); ``fired[k]`` the heads firing in window k."""
    out = []
    for k in range(n_windows):
        end = window - 1 + k * step
        payload = {"end_index": end, "spike_index": end - 60, "units": fired.get(k, []), "n_spikes": 0,
                   "neural_drive": 0.0}
        out.append(Event("motor-units", _us(end), 0.0, 0.0, 0.0, end, payload))
    return out


MANIFEST = {"truth_events": {"seed": 0, "map": [
    # head 0 decodes pool unit 7, head 1 pool unit 3 (lag 0); window: label_delay 60 +- a step
    {"truth": 7, "reported": 0, "window_ms": [1000 * 40 / FS, 1000 * 89 / FS]},
    {"truth": 3, "reported": 1, "window_ms": [1000 * 40 / FS, 1000 * 89 / FS]},
]}}


def test_truth_is_matched_through_the_manifest_pairing_and_only_for_decoded_units():
    # spikes: unit 7 at 200 (-> window with label point 200 +- 10: end 259 = k 7), unit 3 at 405 (end 459: k 17),
    # unit 0 at 300 (no head decodes it), unit 7 at 700 (missed by its head)
    truth = [(_us(200), 7), (_us(300), 0), (_us(405), 3), (_us(700), 7)]
    events = _events({7: [0], 17: [1], 30: [0]}, 60)  # k 30 (end 719): head 0, a false positive 19 samples late
    mapping = truth_map(MANIFEST)
    assert mapping is not None and mapping.seed == 0 and mapping.reported == {7: 0, 3: 1}
    pairs = match_mapped_truth(truth, events, mapping)
    assert [t for t, _ in pairs] == [_us(200), _us(405), _us(700)]  # unit 0 is not counted at all
    hits = [None if e is None else e.sample_index for _, e in pairs]
    assert hits[:2] == [259, 459]
    assert (pairs[0][1].time_us - pairs[0][0]) == pytest.approx(59 * 1e6 / FS, abs=1)
    assert (pairs[1][1].time_us - pairs[1][0]) == pytest.approx(54 * 1e6 / FS, abs=1)
    # 700 -> end 719 is 19 samples after it: before the window opens (40 samples), so not a report of it
    assert hits[2] is None


def test_without_the_pairing_head_indices_pass_for_unit_ids():
    """What went wrong before: unit 0's spike 'matches' head 0's report of unit 7, ~2 s later at worst."""
    truth = [(_us(300), 0)]
    events = _events({40: [0]}, 60)
    (t, hit), = match_truth(truth, events, max_delay_s=2.0)
    assert hit is not None and hit.sample_index == 919  # a spurious match, 300 ms late
    assert match_mapped_truth(truth, events, truth_map(MANIFEST)) == []


def test_no_pairing_means_the_generic_matching():
    assert truth_map({}) is None and truth_map({"truth_events": None}) is None


def test_bench_band_is_the_requested_session_of_the_subject():
    from edgeemg.data.bands import band_signal
    from edgeemg.runtime.bench import encoded_band

    s0, f0, _, _ = encoded_band("gait", 2.0, seed=3, session=0)
    s1, f1, _, _ = encoded_band("gait", 2.0, seed=3, session=1)
    ref = band_signal("gait", 2.0, seed=3, session=1)
    np.testing.assert_array_equal(s1.emg, ref.emg)
    assert not np.array_equal(s0.emg, s1.emg) and f0 != f1


def test_a_given_signal_is_streamed_instead_of_the_simulated_band():
    from edgeemg.bridge import FrameDecoder, FrameType
    from edgeemg.data.bands import synthetic_signal
    from edgeemg.runtime.bench import encoded_band

    sig = synthetic_signal(0.5, seed=1, n_channels=4)
    got, frames, spf, _ = encoded_band("gait", 2.0, seed=3, signal=sig)
    assert got is sig
    dec = FrameDecoder()
    samples = np.concatenate([fr.samples for data in frames for fr in dec.feed(data) if fr.kind is FrameType.DATA])
    assert samples.shape == sig.emg.shape  # the given 0.5 s of 4 channels, not 2 s of the gait band
    np.testing.assert_allclose(samples, sig.emg, atol=np.abs(sig.emg).max() / 2 ** 14)  # int16 on the wire
