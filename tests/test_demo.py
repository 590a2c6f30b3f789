"""`edgeemg demo`: the simulated band goes through the codec and the DSP chain intact."""

import json

from edgeemg.cli import main
from edgeemg.demo import run_dsp_demo


def test_demo_report_is_physically_sensible():
    r = run_dsp_demo("gait", seconds=4.0, seed=3)
    assert r.lost_frames == 0 and r.crc_errors == 0 and r.gaps == 0
    assert abs(r.seconds - 4.0) < 0.01
    # 200 ms windows every 100 ms over 4 s: floor((8000 - 400) / 200) + 1 windows
    assert r.windows == (8000 - 400) // 200 + 1
    assert r.streaming_equals_offline
    assert r.mains_hum_db_after < r.mains_hum_db_before - 10  # the notch removed the simulated 50 Hz hum
    assert r.band_power_20_450_after >= r.band_power_20_450_before


def test_demo_cli_json(capsys):
    assert main(["demo", "--task", "muscle", "--seconds", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "muscle" and out["fs_hz"] == 4000.0 and out["n_channels"] == 1
