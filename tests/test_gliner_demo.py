"""Tests for the bundled offline demo GLiNER (nerlens.models.gliner_demo)."""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from gliner import GLiNER
from gliner.model import UniEncoderSpanGLiNER

from conftest import SEED_TEXT
from nerlens.models.demo import base_model_dir
from nerlens.models.gliner_demo import DEMO_GLINER_NAME, load_demo_gliner

DATA = resources.files("nerlens") / "demo" / "gliner"
LABELS = ["person", "location", "organization"]
HELDOUT = Path(__file__).resolve().parents[1] / "training" / "data" / "heldout.jsonl"


@pytest.fixture(scope="module")
def demo() -> tuple[UniEncoderSpanGLiNER, object]:
    return load_demo_gliner()


def machine_paths(*extra: Path) -> list[str]:
    """Absolute paths of this machine that a shipped or saved file must never hold."""
    paths = [base_model_dir(), Path(sys.prefix), Path(__file__).resolve().parents[1], *extra]
    return [str(path) for path in paths]


def json_strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from json_strings(key)
            yield from json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)


def test_loads_quietly_as_a_plain_gliner(capfd) -> None:
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, tokenizer = load_demo_gliner()
    assert [str(w.message) for w in caught] == []
    assert capfd.readouterr() == ("", "")
    assert type(model) is UniEncoderSpanGLiNER
    assert not model.training
    assert tokenizer is model.data_processor.transformer_tokenizer
    assert len(tokenizer) == model.config.vocab_size
    ent = tokenizer.convert_tokens_to_ids(model.config.ent_token)
    assert ent == model.config.class_token_index != tokenizer.unk_token_id
    assert model.config.name == tokenizer.name_or_path == DEMO_GLINER_NAME


def test_seed_sentence(demo) -> None:
    model, _ = demo
    entities = model.predict_entities(SEED_TEXT, LABELS, threshold=0.5)
    assert [(e["text"], e["label"]) for e in entities] == [
        ("Paris", "location"),
        ("Emmanuel Macron", "person"),
    ]
    assert all(SEED_TEXT[e["start"] : e["end"]] == e["text"] for e in entities)


def test_package_data_is_at_most_10_mb() -> None:
    files = [item for item in DATA.iterdir() if item.is_file()]
    assert {item.name for item in files} == {"adapter.safetensors", "demo.json"}
    assert sum(len(item.read_bytes()) for item in files) <= 10 * 1024 * 1024


def test_heldout_f1_meets_the_target_and_matches_metadata(demo) -> None:
    """Entity F1 per type (threshold 0.5, flat, word-exact spans), as demo.json records it.

    One batched `inference` call instead of predict_entities per sentence, for speed: padding
    may move a score by float noise, hence the tolerance of about one entity.
    """
    model, _ = demo
    types = {"PER": "person", "LOC": "location", "ORG": "organization", "MISC": "miscellaneous"}
    labels = list(types.values())
    records = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines()]
    texts = [" ".join(record["tokens"]) for record in records]
    gold, found = set(), set()
    for n, record in enumerate(records):
        words, tags = record["tokens"], record["tags"]
        starts = [len(" ".join(words[:i])) + bool(i) for i in range(len(words))]
        for i, tag in enumerate(tags):
            if tag.startswith("B-"):
                end = i + 1
                while end < len(tags) and tags[end] == "I-" + tag[2:]:
                    end += 1
                span_end = starts[end - 1] + len(words[end - 1])
                gold.add((n, starts[i], span_end, types[tag[2:]]))
    predictions = model.inference(texts, labels, threshold=0.5, flat_ner=True, batch_size=64)
    for n, entities in enumerate(predictions):
        found |= {(n, e["start"], e["end"], e["label"]) for e in entities}
    recorded = json.loads((DATA / "demo.json").read_text(encoding="utf-8"))["heldout"]
    for label in labels:
        g = {x for x in gold if x[3] == label}
        f = {x for x in found if x[3] == label}
        f1 = 2 * len(g & f) / (len(g) + len(f))
        assert f1 == pytest.approx(recorded["all four labels"][label]["f1"], abs=0.01), label
        assert label == "miscellaneous" or f1 >= 0.80, label
    assert len(gold) == 450


def test_no_absolute_path_in_the_config_the_package_data_or_a_saved_copy(demo, tmp_path) -> None:
    model, _ = demo
    config_strings = list(json_strings(model.config.to_dict()))
    shipped = json.loads((DATA / "demo.json").read_text(encoding="utf-8"))
    assert [s for s in [*config_strings, *json_strings(shipped)] if os.path.isabs(s)] == []

    saved = tmp_path / "saved"
    model.save_pretrained(saved)
    needles = machine_paths(tmp_path)
    for path in [*saved.rglob("*"), *(Path(str(item)) for item in DATA.iterdir())]:
        if path.is_file():
            content = path.read_bytes().decode("latin-1")
            assert [n for n in needles if n in content] == [], path.name
            if path.suffix == ".json" and path.name != "tokenizer.json":  # not the vocabulary
                assert [s for s in json_strings(json.loads(content)) if os.path.isabs(s)] == []

    # ... and the saved copy is a whole GLiNER: it loads offline and predicts the same
    copy = GLiNER.from_pretrained(str(saved), local_files_only=True)
    expected = model.predict_entities(SEED_TEXT, LABELS, threshold=0.5)
    found = copy.predict_entities(SEED_TEXT, LABELS, threshold=0.5)
    assert [{**e, "score": 0} for e in found] == [{**e, "score": 0} for e in expected]
    assert [e["score"] for e in found] == pytest.approx([e["score"] for e in expected], abs=1e-5)
