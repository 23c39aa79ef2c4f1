"""Model loading: local directories, the offline hub error, and bad names."""

from __future__ import annotations

import pytest

from nerlens import ModelLoadError, load_model


def test_local_directory_round_trip(model_dir, tiny_model):
    model, loaded_tokenizer = load_model(model_dir)
    assert not model.training
    assert model.config.id2label == tiny_model.config.id2label
    assert loaded_tokenizer.is_fast


def test_unreachable_hub_error_names_the_way_out():
    with pytest.raises(ModelLoadError, match="use model 'demo' .* local directory"):
        load_model("dslim/bert-base-NER")


@pytest.mark.parametrize("name", ["", "   ", None, "./no/such/dir"])
def test_bad_names(name):
    with pytest.raises(ModelLoadError):
        load_model(name)
