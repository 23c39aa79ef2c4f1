"""Every cell of the seed notebook runs with nerlens by changing only the import.

The notebook loads ``dslim/bert-base-NER`` from the hub, which is unreachable here, so its model
path points at the bundled demo model saved to a directory; nothing else in the cells changes.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from tiny_models import saved

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "ner_explainer_notebook.txt"
SEED_IN_REPO = Path(__file__).resolve().parent / "data" / "ner_explainer_notebook.txt"


def notebook_cells() -> list[str]:
    """The code of each ``In [N]:`` cell: the lines after the marker up to the first blank line."""
    source = SEED if SEED.exists() else SEED_IN_REPO
    cells = []
    for block in re.split(r"^In \[\d+\]:\n", source.read_text(), flags=re.M)[1:]:
        cells.append(block.split("\n\n", 1)[0])
    return cells


@pytest.fixture(scope="module")
def namespace(tmp_path_factory, demo):
    model, tokenizer = demo
    path = saved(model, tokenizer, tmp_path_factory.mktemp("demo-model"))
    cells = notebook_cells()
    assert len(cells) == 16
    env: dict = {}
    caught = []
    for code in cells:
        code = code.replace("from transformers_interpret import", "from nerlens import")
        code = code.replace("'dslim/bert-base-NER'", repr(path))
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            exec(compile(code, "<seed notebook>", "exec"), env)
        caught.extend(str(w.message) for w in seen)
    env["__warnings__"] = caught
    return env


def test_every_cell_ran_and_used_nerlens(namespace):
    from nerlens import TokenClassificationExplainer

    assert isinstance(namespace["ner_explainer"], TokenClassificationExplainer)
    assert namespace["model"].config.id2label[3] == "B-PER"


def test_basic_usage_explains_every_token(namespace):
    attributions = namespace["attributions"]
    tokens = ["[CLS]", "we", "visited", "paris", "last", "weekend", ",", "where", "emmanuel",
              "macro", "##n", "lives", ".", "[SEP]"]  # fmt: skip
    assert list(attributions) == tokens
    for pairs in attributions.values():
        assert [token for token, _ in pairs] == tokens
        assert pairs[0][1] == 0.0 and pairs[-1][1] == 0.0  # baseline keeps [CLS]/[SEP]
        assert sum(score**2 for _, score in pairs) == pytest.approx(1.0)


def test_ignored_indexes_cell_warns_about_index_14_and_keeps_running(namespace):
    assert list(namespace["attributions_2"]) == [
        "paris", "last", "weekend", ",", "where", "emmanuel", "macro", "##n"
    ]  # fmt: skip
    assert any("ignored_indexes [14] are out of range" in w for w in namespace["__warnings__"])


def test_ignored_labels_cells(namespace):
    assert list(namespace["attributions_3"]) == ["paris", "emmanuel", "macro", "##n"]
    # combined: Emmanuel is predicted B-PER, so it is dropped (as the notebook explains)
    assert list(namespace["attributions_4"]) == ["paris", "macro", "##n"]


def test_visualize_shows_the_last_call(namespace):
    page = namespace["html"].data
    rows = re.findall(r"<tr><td>.*?</td><td>.*?<b>(.*?)</b>.*?</td><td>.*?<b>(.*?)</b>", page)
    assert [label for label, _ in rows] == ["B-LOC (1.00)", "I-PER (1.00)", "I-PER (1.00)"]
    assert [token for _, token in rows] == ["paris", "macro", "##n"]
    assert namespace["ner_explainer"].predicted_class_names[3] == "B-LOC"
