"""Export recipes are validated data."""

import pytest

from edgeemg.errors import InvalidInputError
from edgeemg.export.recipe import RECIPE_DIR, load_recipe, recipe_from_dict


@pytest.mark.parametrize("path", sorted(RECIPE_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_recipes_load_and_round_trip(path):
    recipe = load_recipe(path)
    assert recipe.task.replace("-", "_") == path.stem  # motor-units -> motor_units.toml
    assert recipe_from_dict(recipe.to_dict()) == recipe


def test_recipe_typo_names_section_and_file():
    data = load_recipe("gait").to_dict()
    data["quantize"]["per_chanel"] = True
    with pytest.raises(InvalidInputError, match=r"my.toml: unknown key\(s\) \['per_chanel'\] in \[quantize\]"):
        recipe_from_dict(data, source="my.toml")


def test_recipe_bad_values():
    data = load_recipe("gait").to_dict()
    data["prune"]["ratio"] = 1.5
    with pytest.raises(InvalidInputError, match=r"ratio must be in \[0, 1\), got 1.5"):
        recipe_from_dict(data)
    data = load_recipe("muscle").to_dict()
    data["prune"]["channel_multiple"] = 0
    with pytest.raises(InvalidInputError, match=r"x.toml: \[prune\] channel_multiple must be >= 1, got 0"):
        recipe_from_dict(data, source="x.toml")
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_recipe("nosuchtask")


def test_malformed_recipe_file_is_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('task = "gait"\n[quantize\n')
    with pytest.raises(InvalidInputError, match=r"export recipe '.*bad\.toml' is not valid TOML: .*line 2"):
        load_recipe(bad)
