"""Model loading (local directories, the offline hub error, bad names) and model kinds."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch

from conftest import SEED_TEXT, tiny_bert
from nerlens import Explainer, InputError, ModelLoadError, load_model
from nerlens.models import ModelSource, TokenClassifierKind, kind_of, registry


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


# ---------------------------------------------------------------------- model kinds
def test_a_token_classifier_is_the_token_classifier_kind(tokenizer, tiny_model):
    kind = kind_of(tiny_model, tokenizer)
    assert isinstance(kind, TokenClassifierKind)
    assert kind.labels == tuple(tiny_model.config.id2label[i] for i in range(9))
    assert Explainer(tiny_model, tokenizer, n_steps=2).kind.labels == kind.labels


def test_a_model_of_no_kind_is_refused_naming_every_kind(tokenizer):
    with pytest.raises(
        InputError,
        match="model must be a GLiNER UniEncoderSpanGLiNER .* or a transformers "
        "token-classification model with config.id2label, got Linear",
    ):
        kind_of(torch.nn.Linear(2, 2), tokenizer)


class _Uppercase(TokenClassifierKind):
    """A second kind for the test: token classifiers saved with a marker file, whose entity
    groups it writes in lower case; nothing outside the kind knows of it."""

    requirement = "a test model"
    demo_name = None
    MARKER = "uppercase.json"

    @classmethod
    def recognises(cls, model: object) -> bool:
        return getattr(model.config, "nerlens_test_kind", False)

    @classmethod
    def handles(cls, source: ModelSource) -> bool:
        return source.directory is not None and (source.directory / cls.MARKER).exists()

    @classmethod
    def load(cls, source: ModelSource, trust_remote_code: bool) -> tuple[Any, Any]:
        model, tokenizer = super().load(source, trust_remote_code)
        model.config.nerlens_test_kind = True
        return model, tokenizer

    def entities(self, encoding, probabilities, strategy):
        return tuple(
            replace(e, entity_group=e.entity_group.lower())
            for e in super().entities(encoding, probabilities, strategy)
        )


def test_a_new_kind_plugs_in_through_the_registry_alone(tmp_path, tokenizer, monkeypatch):
    model = tiny_bert(tokenizer, seed=3)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    (tmp_path / _Uppercase.MARKER).write_text("{}")
    monkeypatch.setattr(registry, "KINDS", (_Uppercase, *registry.KINDS))
    loaded, loaded_tokenizer = load_model(str(tmp_path))
    explainer = Explainer(loaded, loaded_tokenizer, "saliency")
    assert type(explainer.kind) is _Uppercase
    entities = explainer(SEED_TEXT, "entities").entities
    plain = Explainer(model, tokenizer, "saliency")(SEED_TEXT, "entities").entities
    assert plain and [e.entity_group for e in entities] == [e.entity_group.lower() for e in plain]


def test_model_input_lives_in_model_input_and_methods_re_export_it():
    from nerlens.methods import ModelInput
    from nerlens.model_input import ModelInput as Home

    assert Home.__module__ == "nerlens.model_input"
    assert ModelInput is Home
