"""BrainFlow boards as bands, without hardware: the synthetic board and the playback board (a file this test writes)
through the engine give the events that the same samples give offline (tests/_tiny_bundle.py's reference: offline
DSP, the ONNX file in a plain onnxruntime session, a fresh decoder); gaps come from the package counter."""

from __future__ import annotations

import numpy as np
import pytest
from _band_recorder import Recorder, same_payloads
from _cyton_pty import CytonOnPty
from _tiny_bundle import offline_events, tiny_bundle

pytest.importorskip("brainflow")

from brainflow.board_shim import BoardIds, BoardShim  # noqa: E402

from edgeemg.bridge import Block, Gap, GapKind, open_band  # noqa: E402
from edgeemg.bridge.brainflow_band import parse_source, split_runs  # noqa: E402
from edgeemg.errors import DataFormatError, DeviceError, InvalidInputError  # noqa: E402
from edgeemg.runtime.streaming import stream  # noqa: E402

SYN = int(BoardIds.SYNTHETIC_BOARD)
FS = float(BoardShim.get_sampling_rate(SYN))  # 250 Hz


def test_source_strings_name_board_params_and_channels():
    assert parse_source("synthetic") == (SYN, {}, {})
    bid, fields, opts = parse_source("cyton:/dev/ttyUSB0?timeout=5&channels=1,2")
    assert bid == int(BoardIds.CYTON_BOARD) and fields == {"serial_port": "/dev/ttyUSB0", "timeout": 5}
    assert opts == {"channels": "1,2"}
    bid, fields, _ = parse_source("playback:/data/rec.csv?master_board=cyton_daisy")
    assert bid == int(BoardIds.PLAYBACK_FILE_BOARD)
    assert fields == {"file": "/data/rec.csv", "master_board": int(BoardIds.CYTON_DAISY_BOARD)}
    assert parse_source("-1")[0] == SYN
    with pytest.raises(InvalidInputError, match=r"unknown board 'cyten'; did you mean \['CYTON_BOARD'"):
        parse_source("cyten")
    with pytest.raises(InvalidInputError, match=r"unknown parameter 'serial'; did you mean \['serial_port'"):
        parse_source("cyton?serial=/dev/x")
    with pytest.raises(InvalidInputError, match="needs master_board"):
        open_band("brainflow:playback:/tmp/x.csv")
    with pytest.raises(DataFormatError, match=r"playback file '/nonexistent/rec.csv' does not exist"):
        open_band("brainflow:playback:/nonexistent/rec.csv?master_board=cyton")
    with pytest.raises(InvalidInputError, match=r"no channel named 'TA'; its channels are \['Fz', 'C3'"):
        open_band("brainflow:synthetic?channels=TA")


def test_lost_samples_from_a_wrapping_counter_and_timestamps():
    """Reference: the true sample numbers; the counter is their value mod 256 and the stamps carry jitter."""
    rng = np.random.default_rng(1)
    idx = np.arange(3000)
    keep = np.ones(3000, bool)
    keep[[100, 101, 102]] = False  # 3 lost: the counter alone tells
    keep[500:500 + 256] = False  # a full turn lost: only the timestamps tell
    keep[1200:1200 + 300] = False  # 300 = 256 + 44
    idx = idx[keep]
    stamps = 1e9 + idx / FS + rng.uniform(0, 0.3 / FS, idx.size)
    lost = np.concatenate([split_runs(idx[:1000] % 256, stamps[:1000], FS, 256, None),
                           split_runs(idx[1000:] % 256, stamps[1000:], FS, 256, (idx[999] % 256, stamps[999]))])
    np.testing.assert_array_equal(lost, np.diff(idx, prepend=idx[0] - 1) - 1)


def _events(rec_items, bundle):
    segs = Recorder.segments(type("R", (), {"items": rec_items})())
    return [p for seg in segs for p in offline_events(bundle, np.concatenate([b.samples for b in seg]))]


def _same(got, want):
    assert len(want) >= 3
    same_payloads(got, want)


def test_synthetic_board_through_the_engine_equals_offline(tmp_path):
    bundle = tiny_bundle(tmp_path / "b", FS, ["Cz", "C3"])  # the board's order is C3, Cz: selection reorders
    band = open_band("brainflow:synthetic", channels=list(bundle.channel_names))
    try:
        assert band.channel_names == ("Cz", "C3") and band.info.n_channels == 2 and band.info.fs_hz == FS
        rec = Recorder(band)
        events = list(stream(rec, bundle, seconds=3.0, skip_after_ms=float("inf")))
    finally:
        band.close()
    blocks = [b for b in rec.items if isinstance(b, Block)]
    x = np.concatenate([b.samples for b in blocks])
    assert x.shape[0] >= 2 * FS and not [g for g in rec.items if isinstance(g, Gap)]
    # BrainFlow's synthetic channel i (board order, from 0) is a sine at 5 * (i + 1) Hz: Cz (i=2) 15 Hz, C3 (i=1) 10 Hz
    spec = np.abs(np.fft.rfft(x[: int(2 * FS)] - x[: int(2 * FS)].mean(0), axis=0))
    assert list(np.fft.rfftfreq(int(2 * FS), 1 / FS)[spec.argmax(0)]) == [15.0, 10.0]
    # device time is the sample count at the nominal rate: contiguous blocks
    t = np.array([b.timestamp_us for b in blocks])
    n = np.cumsum([0] + [b.n_samples for b in blocks[:-1]])
    np.testing.assert_allclose(t - t[0], n * 1e6 / FS, atol=1)
    _same([e.payload for e in events], _events(rec.items, bundle))
    for e in events:
        assert e.latency_ms >= 0 and abs(e.time_us - (t[0] + e.sample_index * 1e6 / FS)) <= 1


def _playback_file(path, n=1000, drop=(400, 440)):
    """A BrainFlow CSV (DataFilter.write_file's layout: one sample per line, every board row, tab-separated):
    the synthetic board's rows, a chirp on the EMG rows, the package counter with ``drop`` samples missing."""
    d = BoardShim.get_board_descr(SYN)
    keep = np.r_[0:drop[0], drop[1]:n]
    table = np.zeros((d["num_rows"], keep.size))
    t = keep / FS
    for k, row in enumerate(d["emg_channels"]):
        table[row] = np.round(100 * np.sin(2 * np.pi * (1 + k + 3 * t) * t) + 10 * k, 6)
    table[d["package_num_channel"]] = keep % 256
    table[d["timestamp_channel"]] = 1.7e9 + t
    np.savetxt(path, table.T, fmt="%.6f", delimiter="\t")
    return table[d["emg_channels"]].T.astype(np.float32), keep


def test_playback_board_replays_the_file_with_its_gap_and_decodes_like_offline(tmp_path):
    x, keep = _playback_file(tmp_path / "rec.csv")
    bundle = tiny_bundle(tmp_path / "b", FS, ["Fz", "C3", "Cz"])
    band = open_band(f"brainflow:playback:{tmp_path / 'rec.csv'}?master_board=synthetic&channels=Fz,C3,Cz")
    try:
        rec = Recorder(band)
        events = list(stream(rec, bundle, skip_after_ms=float("inf"), idle_timeout_s=10.0))  # ends with the file
    finally:
        band.close()
    gaps = [g for g in rec.items if isinstance(g, Gap)]
    assert [(g.kind, g.samples) for g in gaps] == [(GapKind.LOST_FRAMES, 40)]
    got = np.concatenate([b.samples for b in rec.items if isinstance(b, Block)])
    np.testing.assert_array_equal(got, x[:, :3])  # every sample of the file, in order, µV as written
    _same([e.payload for e in events], _events(rec.items, bundle))
    after = [e for e in events if e.time_us >= gaps[0].to_us]
    assert after and after[0].payload["previous"] is None  # the decoder restarted at the gap
    assert band.stats.lost_frames == 40


def test_a_board_that_is_not_there_is_a_device_error():
    with pytest.raises(DeviceError, match=r"brainflow:cyton:/dev/nonexistent-tty: BrainFlow could not open the board"):
        open_band("brainflow:cyton:/dev/nonexistent-tty")


def test_brainflow_cyton_reads_what_the_hand_written_parser_reads():
    """The same Cyton bytes through BrainFlow's Cyton board (over a pty) and through CytonDecoder give the same µV
    and the same gap: BrainFlow covers the hand-written parser's ground."""
    from edgeemg.bridge import CytonDecoder, encode_cyton_packet

    rng = np.random.default_rng(7)
    numbers = [i for i in range(600) if not 300 <= i < 310]  # 10 samples lost on the radio link
    counts = rng.integers(-(1 << 23), 1 << 23, size=(600, 8))
    packets = [encode_cyton_packet(i % 256, counts[i]) for i in numbers]
    want = CytonDecoder().feed(b"".join(packets))
    cyton = CytonOnPty(packets)
    band = open_band(f"brainflow:cyton:{cyton.port}")
    try:
        rec = Recorder(band)
        band.start()
        items = []
        while sum(b.n_samples for b in items if isinstance(b, Block)) < len(numbers):
            item = rec.read(5.0)
            assert item is not None, "BrainFlow delivered no Cyton sample within 5 s"
            items.append(item)
    finally:
        band.close()
        cyton.close()
    got = np.concatenate([b.samples for b in items if isinstance(b, Block)])
    np.testing.assert_allclose(got, np.concatenate([f.samples for f in want]), rtol=1e-6, atol=1e-6)
    gaps = [g for g in items if isinstance(g, Gap)]
    assert [g.samples for g in gaps] == [10] == [f.lost_before for f in want if f.lost_before]
    assert band.channel_names[:2] == ("Fp1", "Fp2") and band.info.fs_hz == 250.0
