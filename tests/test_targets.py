"""Board profiles load, validate, and every shipped profile is well-formed."""

import pytest

from edgeemg.errors import InvalidInputError
from edgeemg.runtime.targets import TargetProfile, available_targets, load_target


def test_shipped_profiles_load():
    names = available_targets()
    assert {"rpi4", "rpi5", "jetson-orin-nano", "x86-host"} <= set(names)
    for name in names:
        profile = load_target(name)
        assert profile.name == name
        assert profile.latency_budget_ms == 80.0
        assert profile.providers[-1] == "CPUExecutionProvider"  # always a CPU fallback last
        assert TargetProfile.from_dict(profile.to_dict()) == profile


def test_unknown_target_lists_available():
    with pytest.raises(InvalidInputError, match="unknown target 'rpi9'; available: .*rpi4"):
        load_target("rpi9")


def test_profile_typo_is_refused(tmp_path):
    good = load_target("rpi4").to_dict()
    bad = dict(good, thread=2)
    with pytest.raises(InvalidInputError, match=r"unknown key\(s\) \['thread'\]"):
        TargetProfile.from_dict(bad, source="x.toml")
    with pytest.raises(InvalidInputError, match="backend must be one of"):
        TargetProfile.from_dict(dict(good, backend="tensorrt"))


def test_missing_or_malformed_profile_file_is_named(tmp_path):
    with pytest.raises(InvalidInputError, match=r"target profile '.*none\.toml' does not exist"):
        load_target(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nbackend = \n')
    with pytest.raises(InvalidInputError, match=r"target profile '.*bad\.toml' is not valid TOML: .*line 2"):
        load_target(bad)
