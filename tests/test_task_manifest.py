"""The manifest fields the board-side decoders read (edgeemg.tasks.manifest), through every decoder."""

import pytest

from edgeemg.errors import InvalidInputError
from edgeemg.tasks.gait.causal_decoder import CausalGaitDecoder
from edgeemg.tasks.gait.decoder import GaitDecoder
from edgeemg.tasks.keystroke.decoder import KeystrokeDecoder
from edgeemg.tasks.manifest import decoder_settings, manifest_labels
from edgeemg.tasks.motor_units.decoder import MotorUnitDecoder
from edgeemg.tasks.motor_units.filter_decoder import FilterSpikeDecoder
from edgeemg.tasks.muscle_health.decoder import MuscleDecoder


@pytest.mark.parametrize("cls", [GaitDecoder, CausalGaitDecoder, MuscleDecoder, MotorUnitDecoder, FilterSpikeDecoder])
def test_a_manifest_without_labels_is_refused_naming_the_decoder(cls):
    with pytest.raises(InvalidInputError, match=rf"{cls.__name__}\.from_manifest: manifest has no 'labels' field"):
        cls.from_manifest({"decoder": {}})


def test_the_filter_decoder_needs_its_decoder_field():
    with pytest.raises(InvalidInputError, match=r"FilterSpikeDecoder\.from_manifest: .*no 'decoder' field "
                                                r"\(thresholds, hop, confirm, refractory\)"):
        FilterSpikeDecoder.from_manifest({"labels": ["u0"]})


def test_decoder_settings_copies_drops_task_and_takes_outputs_only_when_asked():
    manifest = {"labels": ["a", "b"], "outputs": "logits", "decoder": {"task": "gait", "votes": 3}}
    got = decoder_settings(manifest)
    assert got == {"votes": 3}
    got["votes"] = 5
    assert manifest["decoder"] == {"task": "gait", "votes": 3}  # a copy: the manifest is untouched
    assert decoder_settings(manifest, outputs=True) == {"votes": 3, "outputs": "logits"}
    own = {**manifest, "decoder": {"outputs": "probabilities"}}
    assert decoder_settings(own, outputs=True) == {"outputs": "probabilities"}  # the decoder's own wins
    assert decoder_settings({}) == {}
    assert manifest_labels(manifest, "X") == ("a", "b")


def test_decoders_read_the_same_settings_as_their_config():
    gait = GaitDecoder.from_manifest({"labels": ["a", "b"], "outputs": "probabilities", "decoder": {"votes": 3}})
    assert (gait.config.votes, gait.config.outputs, gait.labels) == (3, "probabilities", ("a", "b"))
    with pytest.raises(InvalidInputError, match="unknown key"):
        MuscleDecoder.from_manifest({"labels": ["a", "b"], "decoder": {"emitt": "change"}})
    ks = KeystrokeDecoder.from_manifest({"decoder": {"task": "keystroke", "beam_size": 3}})
    assert ks.config.beam_size == 3
