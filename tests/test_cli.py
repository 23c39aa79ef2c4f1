"""The command line: readable output, files written, one-line errors with a non-zero exit."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from conftest import SEED_TEXT
from nerlens import Explanation
from nerlens.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer, tiny_model):
    path = tmp_path_factory.mktemp("tiny")
    tiny_model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_explain_prints_entities_and_writes_files(model_dir, tmp_path):
    html, json = tmp_path / "out.html", tmp_path / "out.json"
    result = runner.invoke(
        app,
        [
            "explain",
            SEED_TEXT,
            "--model",
            model_dir,
            "--n-steps",
            "4",
            "--html",
            str(html),
            "--json",
            str(json),
            "--ignore-index",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Macron" in result.output and "top 3 for" in result.output
    explanation = Explanation.load(json)
    assert explanation.positions == tuple(range(2, 13))
    assert explanation.settings["n_steps"] == 4
    page = html.read_text()
    assert "<!DOCTYPE html>" in page and "window.nerlensView.mount" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "error: text must contain at least one non-whitespace character"),
        (["Hi", "--ignore-label", "PERSON"], "error: label 'PERSON' is not one of"),
        (["Hi", "--ignore-index", "9"], "error: ignored_indexes [9] are out of range"),
        (["Hi", "--targets", "words"], "error: targets must be 'tokens', 'entities'"),
        (["Hi", "--method", "shap"], "error: unknown attribution method 'shap'"),
        (["word " * 600], "error: text is 602 tokens long"),
    ],
)
def test_bad_input_exits_with_one_line(model_dir, args, message):
    result = runner.invoke(app, ["explain", *args[:1], "--model", model_dir, *args[1:]])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.output


def test_missing_model_names_the_way_out(tmp_path):
    result = runner.invoke(app, ["explain", "Hi", "--model", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no model directory" in result.stderr and "'demo'" in result.stderr


def test_unreachable_hub_names_demo_and_local_paths():
    result = runner.invoke(app, ["explain", "Hi", "--model", "some-org/some-model"])
    assert result.exit_code == 2
    assert "use model 'demo'" in result.stderr and "local directory" in result.stderr


def test_bad_n_steps_is_a_usage_error(model_dir):
    result = runner.invoke(app, ["explain", "Hi", "--model", model_dir, "--n-steps", "x"])
    assert result.exit_code == 2
    assert "must be a positive integer or 'auto'" in result.output + result.stderr


def test_methods_lists_the_registry():
    result = runner.invoke(app, ["methods"])
    assert result.exit_code == 0
    assert "integrated_gradients" in result.output
