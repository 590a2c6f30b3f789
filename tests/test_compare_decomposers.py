"""benchmarks/compare_decomposers.py's bookkeeping: the common-unit comparison and stored peer rows.

The decompositions themselves take minutes (not here); these are the rules that turn
scored rows into the table, on hand-made rows, so a mismatch cannot pass silently.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("compare_decomposers", ROOT / "benchmarks" / "compare_decomposers.py")
cmp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cmp)


def _unit(ref, sens, prec, roa, identified=True):
    return {"reference_unit": ref, "sensitivity": sens, "precision": prec, "rate_of_agreement": roa,
            "identified": identified}


def _row(name, units, level=0.5):
    return {"grid": "8x8-4mm", "level": level, "seconds": 20.0, "seed": 0, "snr_db": 20.0, "decomposer": name,
            "per_unit": units}


def test_common_units_compare_only_units_both_identified():
    ours = _row("edgeemg", [_unit(1, 1.0, 1.0, 1.0), _unit(2, 0.9, 1.0, 0.9), _unit(3, 0.5, 0.5, 0.3)])
    peer = _row("muniverse-cbss", [_unit(2, 1.0, 0.8, 0.8), _unit(1, 0.8, 1.0, 0.8),
                                   _unit(3, 1.0, 1.0, 1.0, identified=False), _unit(4, 1.0, 1.0, 1.0)])
    line = cmp.on_common_units([ours, peer]).splitlines()[-1].split()
    assert line[:3] == ["8x8-4mm", "0.50", "2"]  # units 1 and 2: 3 is not identified by the peer, 4 not by us
    assert line[3] == "0.950/1.000/0.950" and line[4] == "0.900/0.900/0.800"


def test_stored_peer_rows_match_cell_length_and_subject(tmp_path):
    rows = [_row("muniverse-cbss", [], level=0.3), _row("edgeemg", []), _row("muniverse-cbss", [])]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(rows))
    args = argparse.Namespace(seed=0, snr_db=20.0)
    where = {"grid": "8x8-4mm", "level": 0.5, "seconds": 20.0}
    assert cmp.stored_peer_row(str(path), where, args)["level"] == 0.5
    assert "error" in cmp.stored_peer_row(str(path), {**where, "seconds": 30.0}, args)
    assert "error" in cmp.stored_peer_row(str(path), where, argparse.Namespace(seed=1, snr_db=20.0))

