"""`make board-check`'s verdicts (benchmarks/board_check/check.py): what counts as the board matching the host.

The check itself runs under emulation (slow, not here); these are its comparison rules on
hand-made event lines, so a mismatch can never pass silently.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("board_check", ROOT / "benchmarks" / "board_check" / "check.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

HOST = [
    {"type": "event", "task": "muscle", "sample_index": 4159, "class": "als", "probability": 0.35,
     "probabilities": {"als": 0.35, "normal": 0.34}, "arrival_s": 1.0, "emit_s": 1.1, "latency_ms": 0.4},
    {"type": "metrics", "final": True, "frames": 1250},
    {"type": "event", "task": "muscle", "sample_index": 8255, "class": "normal", "probability": 0.5,
     "probabilities": {"als": 0.2, "normal": 0.5}, "arrival_s": 2.0, "emit_s": 2.1, "latency_ms": 0.3},
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _board(**change) -> list[dict]:
    rows = json.loads(json.dumps(HOST))
    for key, value in change.items():
        rows[2][key] = value
    return rows


@pytest.mark.parametrize(("change", "ok"), [
    ({}, True),
    ({"latency_ms": 9.0, "arrival_s": 99.0}, True),  # wall-clock fields are not decoding results
    ({"probability": 0.5 + 0.01}, True),  # within the tolerance below
    ({"probability": 0.5 + 0.2}, False),
    ({"class": "als"}, False),
    ({"sample_index": 8256}, False),
    ({"probabilities": {"als": 0.2}}, False),
])
def test_events_must_equal_the_hosts(tmp_path: Path, change: dict, ok: bool) -> None:
    got = check.compare_events(_write(tmp_path / "h.jsonl", HOST), _write(tmp_path / "b.jsonl", _board(**change)),
                               tol=0.05)
    assert got["ok"] is ok and (got["host"], got["board"]) == (2, 2)


def test_missing_or_empty_runs_fail(tmp_path: Path) -> None:
    host = _write(tmp_path / "h.jsonl", HOST)
    assert not check.compare_events(host, tmp_path / "absent.jsonl", tol=0.05)["ok"]
    assert not check.compare_events(host, _write(tmp_path / "b.jsonl", HOST[:2]), tol=0.05)["ok"]
    nothing = _write(tmp_path / "n.jsonl", [HOST[1]])
    assert not check.compare_events(nothing, nothing, tol=0.05)["ok"]  # no events: nothing was compared


def test_a_run_that_dropped_frames_is_not_a_match(tmp_path: Path) -> None:
    final = {"type": "metrics", "final": True, "dropped": 6, "lost": 0, "gaps": 1}
    got = check.compare_events(_write(tmp_path / "h.jsonl", HOST), _write(tmp_path / "b.jsonl", [*HOST, final]),
                               tol=0.05)
    assert got["lost"] == 7 and not got["ok"]


def test_self_check_cell() -> None:
    good = {"code": 0, "report": {"self_check": {"ok": True, "results": [{"ok": True}, {"ok": True}]}}}
    bad = {"code": 1, "report": {"self_check": {"ok": False, "results": [{"ok": True}, {"ok": False}]}}}
    assert check._verify_cell(good) == ("ok 2/2", True)
    assert check._verify_cell(bad) == ("FAIL 1/2", False)
    assert check._verify_cell({"code": 1, "report": None})[1] is False


def test_site_sizes_sum_the_record(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.bin").write_bytes(b"x" * 2_000_000)
    info = tmp_path / "pkg-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("pkg/a.bin,sha256=x,2000000\npkg-1.0.dist-info/RECORD,,\n")
    assert check.site_sizes(tmp_path) == {"pkg": 2.0, "total": 2.0}
