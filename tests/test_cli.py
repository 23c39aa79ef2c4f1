"""The command line: input from arguments, stdin and files; one-line errors in CLI terms, checked
before any model work; chosen targets; predictions only; a light start-up; help within 80 columns.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import SEED_TEXT
from nerlens import ContrastTarget, EntityTarget, Explainer, Explanation, TokenTarget
from nerlens.cli import app

SRC = str(Path(__file__).resolve().parents[1] / "src")
runner = CliRunner()


def explain_json(tmp_path: Path, *args: str, input: str | None = None) -> Explanation:
    """Run ``nerlens explain ARGS --json FILE`` and return the Explanation it wrote."""
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["explain", *args, "--json", str(out)], input=input)
    assert result.exit_code == 0, result.output
    return Explanation.load(out)


def one_line_error(args: list[str], input: str | None = None) -> str:
    """Run a command that must fail: exit status 2, one ``error:`` line, no traceback."""
    result = runner.invoke(app, args, input=input)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# ---------------------------------------------------------------------- explain, files
def test_explain_prints_entities_and_writes_files(model_dir, tmp_path):
    html, json_path = tmp_path / "out.html", tmp_path / "out.json"
    result = runner.invoke(
        app,
        ["explain", SEED_TEXT, "--model", model_dir, "--n-steps", "4",
         "--html", str(html), "--json", str(json_path), "--ignore-index", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Macron" in result.output and "top 3 for" in result.output
    explanation = Explanation.load(json_path)
    assert explanation.positions == tuple(range(2, 13))
    assert explanation.settings["n_steps"] == 4
    page = html.read_text()
    assert "<!DOCTYPE html>" in page and "window.nerlensView.mount" in page


# ---------------------------------------------------------------------- input
def test_dash_reads_standard_input_and_file_reads_a_file(model_dir, tmp_path):
    from_argument = explain_json(tmp_path, SEED_TEXT, "--model", model_dir, "--n-steps", "2")
    from_stdin = explain_json(
        tmp_path, "-", "--model", model_dir, "--n-steps", "2", input=SEED_TEXT
    )
    text_file = tmp_path / "text.txt"
    text_file.write_text(SEED_TEXT + "\n", encoding="utf-8")
    from_file = explain_json(
        tmp_path, "--file", str(text_file), "--model", model_dir, "--n-steps", "2"
    )
    assert from_stdin.text == SEED_TEXT
    assert from_file.text == SEED_TEXT + "\n"  # the text is never rewritten
    assert from_stdin == from_argument
    np.testing.assert_array_equal(from_file.attributions, from_argument.attributions)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([SEED_TEXT, "--file", "x.txt"], "give the text one way, not two: got a text argument"),
        (["-", "--file", "x.txt"], "give the text one way, not two: got '-' (standard input)"),
        ([], "give the text as an argument, '-' for standard input, or --file"),
        (["--file", "no/such.txt"], "cannot read --file 'no/such.txt': No such file"),
    ],
)
def test_input_errors(args, message, tmp_path):
    assert one_line_error(["explain", *args, "--model", str(tmp_path / "x")]).startswith(
        f"error: {message}"
    )


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café".encode("latin-1"))
    assert "is not UTF-8 text" in one_line_error(["tag", "--file", str(path)])


# ---------------------------------------------------------------------- errors in CLI terms
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "the text argument is empty"),
        (["Hi", "--ignore-label", "PERSON"], "--ignore-label 'PERSON' is not one of"),
        (["Hi", "--ignore-index", "9"], "--ignore-index 9 is out of range: the text has 3 tokens"),
        (["Hi", "--targets", "words"], "--targets must be one of tokens, entities, gold;"),
        (["Hi", "--method", "shap"], "--method 'shap' is not a registered method; available:"),
        (["word " * 600], "text is 602 tokens long"),
        (["Hi", "--top", "0"], "--top must be positive, got 0"),
        (["Hi", "--n-steps", "8", "--tolerance", "0.5"],
         "--tolerance=0.5 applies only with --n-steps='auto', got 8"),
        (["Hi", "--tolerance", "0"], "--tolerance must be a number > 0, got 0.0"),
        (["Hi", "--n-steps", "0"], "--n-steps must be a positive int or 'auto', got 0"),
        (["Hi", "--n-steps", "x"], "--n-steps must be a positive int or 'auto', got 'x'"),
        (["Hi", "--stride", "16"], "--stride=16 only applies with --long-text='window'"),
        (["Hi", "--long-text", "window", "--stride", "510"], "--stride must be smaller than 510"),
        (["Hi", "--long-text", "split"], "--long-text must be one of ['error', 'window'], got"),
        (["Hi", "--device", "tpu"], "--device must be one of ['cpu', 'cuda', 'auto'], got 'tpu'"),
        (["Hi", "--threads", "0"], "--threads must be a positive int, got 0"),
        (["Hi", "--context", "64"], "--context=64 only applies with --long-text='window'"),
        (["Hi", "--long-text", "window", "--context", "8"], "--context must be an int >= 16, got"),
        (["Hi", "--method", "occlusion", "--n-steps", "4"],
         "--n-steps does not apply to --method occlusion; it takes no options"),
        (["Hi", "--method", "lime", "--method-option", "kernel_width=0"],
         "--method-option kernel_width must be a number > 0, got 0"),
        (["Hi", "--position", "7"], "--position 7 is out of range: the text has 3 tokens (0..2)"),
        (["Hi", "--position", "1", "--targets", "entities"], "--targets chooses every token"),
        (["Hi", "--position", "1", "--ignore-label", "O"], "--ignore-label and --ignore-index"),
        (["Hi", "--contrast", "B-LOC"], "--contrast must be LABEL:FOIL"),
        (["Hi", "--contrast", "B-LOC:B-PLACE"], "--contrast 'B-PLACE' is not one of"),
    ],
)  # fmt: skip
def test_bad_input_exits_with_one_line(model_dir, args, message):
    line = one_line_error(["explain", *args[:1], "--model", model_dir, *args[1:]])
    assert line.startswith(f"error: {message}"), line


def test_output_folders_are_checked_before_any_model_work(tmp_path):
    missing_model = str(tmp_path / "no-model")  # loading it would fail: it must not be reached
    for option in ("--html", "--json"):
        line = one_line_error(
            ["explain", "Hi", "--model", missing_model, option, str(tmp_path / "nope" / "x")]
        )
        assert (
            line
            == f"error: {option} '{tmp_path}/nope/x': the folder '{tmp_path}/nope' does not exist"
        )
    line = one_line_error(["explain", "Hi", "--model", missing_model, "--json", str(tmp_path)])
    assert line == f"error: --json '{tmp_path}' is a directory; give a file name"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_output_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    line = one_line_error(["explain", "Hi", "--html", str(locked / "x.html")])
    assert line.endswith("is not writable")


def test_missing_model_names_the_way_out(tmp_path):
    line = one_line_error(["explain", "Hi", "--model", str(tmp_path / "nope")])
    assert "no model directory" in line and "'demo'" in line


def test_unreachable_hub_names_the_cli_ways_out():
    line = one_line_error(["explain", "Hi", "--model", "some-org/some-model"])
    assert "--model demo" in line and "local model directory" in line
    assert "HF_HUB_OFFLINE=1" in line


def test_unreachable_hub_fails_fast_without_offline_mode(tmp_path):
    with socket.socket() as probe:  # a local port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = textwrap.dedent("""
        import time
        from transformers import AutoModelForTokenClassification, AutoTokenizer
        from nerlens.models import load_model
        start = time.perf_counter()
        try:
            load_model("some-org/some-model")
        except Exception as error:
            print(type(error).__name__, round(time.perf_counter() - start, 2), error)
    """)
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HOME=str(tmp_path), PYTHONPATH=SRC)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    name, seconds, message = done.stdout.strip().split(" ", 2)
    assert name == "HubUnreachableError", done.stdout + done.stderr
    assert float(seconds) < 5  # imports excluded; the hub client alone retries for ~50 s
    assert f"127.0.0.1:{port}" in message and "HF_HUB_OFFLINE=1" in message
    assert "Retrying" not in done.stderr


@pytest.mark.parametrize("command", ["explain", "tag"])
@pytest.mark.parametrize("how", ["stdin", "file"])
def test_undecodable_input_is_one_line_naming_the_byte(command, how, tmp_path):
    """Every input path decodes strictly: a Latin-1 byte is named with its offset (exit 2)."""
    data = b"Caf\xe9 in M\xfcnchen\n"
    path = tmp_path / "latin1.txt"
    path.write_bytes(data)
    args = ["-"] if how == "stdin" else ["--file", str(path)]
    line = one_line_error([command, *args, "--model", str(tmp_path / "x")], input=data)
    assert "is not UTF-8 text: byte 0xe9 at offset 3" in line


def test_a_lone_surrogate_in_the_argument_is_one_line(tmp_path):
    """What Python makes of an argument its locale cannot decode (surrogateescape)."""
    line = one_line_error(["explain", "Caf\udce9", "--model", str(tmp_path / "x")])
    assert "lone surrogate U+DCE9 (byte 0xe9" in line and "character 3" in line


def test_every_argument_is_checked_before_the_model_loads(tmp_path):
    """A model that does not exist would fail to load: these errors must come first."""
    missing = str(tmp_path / "no-model")
    for args, message in [
        (["explain", "  "], "the text argument is empty"),
        (["tag", "-"], "standard input is empty"),
        (["explain", "Hi", "--n-steps", "0"], "--n-steps must be"),
        (["explain", "Hi", "--method", "lime", "--method-option", "alpha=-1"], "alpha must be"),
        (["batch", "x.txt", "--out", str(tmp_path / "no" / "out")], "does not exist"),
        (["batch", "x.txt", "-o", "o", "--method-option", "seed=1"], "seed does not apply"),
        (["batch", "x.txt", "-o", "o", "--stride", "4"], "--stride=4 only applies with"),
    ]:
        assert message in one_line_error([*args, "--model", missing], input=""), args


# ---------------------------------------------------------------------- choosing targets
def test_positions_explain_those_tokens_for_their_predicted_labels(demo, tmp_path):
    explanation = explain_json(
        tmp_path, SEED_TEXT, "--position", "3", "--position", "9", "--n-steps", "4"
    )
    labels = explanation.predicted_labels
    assert explanation.targets == (TokenTarget(3, labels[3]), TokenTarget(9, labels[9]))
    assert labels[3] == "B-LOC"


def test_entity_explains_the_predicted_entity_with_that_text(demo, tmp_path):
    explanation = explain_json(tmp_path, SEED_TEXT, "--entity", "Emmanuel Macron", "--n-steps", "4")
    assert explanation.targets == (EntityTarget(8, 11, "PER", ("B-PER", "I-PER", "I-PER")),)
    line = one_line_error(["explain", SEED_TEXT, "--entity", "Macron"])
    predicted = "predicted: 'Paris', 'Emmanuel Macron'"
    assert line == f"error: --entity 'Macron' is not a predicted entity; {predicted}"


def test_contrast_at_predicted_tokens_or_at_chosen_positions(demo, tmp_path):
    where_predicted = explain_json(
        tmp_path, SEED_TEXT, "--contrast", "B-LOC:B-ORG", "--n-steps", "4"
    )
    assert where_predicted.targets == (ContrastTarget(3, "B-LOC", "B-ORG"),)
    chosen = explain_json(
        tmp_path,
        SEED_TEXT,
        "--contrast",
        "B-PER:O",
        "--position",
        "1",
        "--position",
        "8",
        "--n-steps",
        "4",
    )
    assert chosen.targets == (ContrastTarget(1, "B-PER", "O"), ContrastTarget(8, "B-PER", "O"))
    line = one_line_error(["explain", SEED_TEXT, "--contrast", "B-MISC:O"])
    assert line.startswith("error: --contrast B-MISC:O: no token is predicted B-MISC")


def test_tolerance_and_stride_reach_the_library(model_dir, tmp_path):
    auto = explain_json(tmp_path, SEED_TEXT, "--model", model_dir, "--tolerance", "0.5")
    assert auto.settings["tolerance"] == 0.5
    windows = explain_json(
        tmp_path, "word " * 600, "--model", model_dir, "--long-text", "window",
        "--stride", "64", "--n-steps", "1", "--position", "300",
    )  # fmt: skip
    assert windows.settings["stride"] == 64 and windows.settings["windows"] > 1
    capped = explain_json(
        tmp_path, "word " * 100, "--model", model_dir, "--long-text", "window",
        "--context", "32", "--n-steps", "1", "--position", "50",
    )  # fmt: skip
    assert capped.settings["max_length"] == 32 and capped.settings["windows"] > 1


def test_threads_reach_the_explainer(model_dir, tmp_path):
    explanation = explain_json(
        tmp_path, "Hi", "--model", model_dir, "--n-steps", "2", "--threads", "1"
    )
    assert len(explanation) == 1


# ---------------------------------------------------------------------- tag
def test_tag_prints_entities_as_json_and_table_without_attributing(demo, monkeypatch):
    from nerlens.methods.integrated_gradients import IntegratedGradients

    def no_attribution(*args, **kwargs):
        raise AssertionError("tag must not attribute")

    monkeypatch.setattr(IntegratedGradients, "attribute", no_attribution)
    result = runner.invoke(app, ["tag", SEED_TEXT, "--format", "json"])
    assert result.exit_code == 0, result.output
    entities = json.loads(result.stdout)

    model, tokenizer = demo  # independently: softmax of the model's logits, grouped by hand
    with torch.no_grad():
        probs = model(**tokenizer(SEED_TEXT, return_tensors="pt")).logits.softmax(-1)[0]
    top = probs.max(-1).values
    assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in entities] == [
        ("LOC", "paris", 11, 16),  # the pipeline's `word`: the tokens joined (uncased model)
        ("PER", "emmanuel macron", 37, 52),
    ]
    assert entities[0]["score"] == pytest.approx(float(top[3]), abs=1e-6)
    assert entities[1]["score"] == pytest.approx(float(top[8:11].mean()), abs=1e-6)

    table = runner.invoke(app, ["tag", "-"], input=SEED_TEXT)
    assert table.exit_code == 0, table.output
    assert re.search(r"Emmanuel Macron\s+│\s+PER\s+│\s+37\s+│\s+52\s+│\s+1\.00", table.stdout)


def test_tag_groups_as_the_pipeline_strategy_says(demo):
    text = "Angela Merkel met Joe Biden in Berlin."
    for strategy in ("simple", "first", "average", "max"):
        result = runner.invoke(
            app, ["tag", text, "--format", "json", "--aggregation-strategy", strategy]
        )
        assert result.exit_code == 0, result.output
        explainer = Explainer(*demo, aggregation_strategy=strategy)
        expected = [e.as_pipeline() for e in explainer(text, []).entities]
        assert json.loads(result.stdout) == expected
    line = one_line_error(["tag", text, "--aggregation-strategy", "none"])
    choices = "['simple', 'first', 'average', 'max']"
    assert line == f"error: --aggregation-strategy must be one of {choices}, got 'none'"


def test_tag_with_no_entities_says_so(demo):
    result = runner.invoke(app, ["tag", "the cat sat on the mat"])
    assert (result.exit_code, result.stdout) == (0, "no entities predicted\n")
    result = runner.invoke(app, ["tag", "the cat sat on the mat", "--format", "json"])
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "Hi", "--top", "x"], "error: Invalid value for '--top': "),
        (["batch"], "error: Missing argument 'INPUT'."),
        (["explain", "Hi", "--nope"], "error: No such option: --nope"),
    ],
)
def test_the_command_prints_usage_errors_on_one_line(args, message):
    """The console entry point (not CliRunner): exit 2, one line naming the command's help."""
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-m", "nerlens.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(message) and line.endswith(f" {args[0]} --help')")


# ---------------------------------------------------------------------- start-up and help
def test_cli_start_up_imports_neither_torch_nor_transformers():
    code = textwrap.dedent("""
        import sys
        from typer.testing import CliRunner
        import nerlens
        from nerlens.cli import app
        for args in (["--help"], ["explain", "--help"], ["tag", "--help"], ["--version"]):
            assert CliRunner().invoke(app, args).exit_code == 0, args
        print(sorted(m for m in ("torch", "transformers", "numpy") if m in sys.modules))
    """)
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_version_names_nerlens_torch_and_transformers():
    from importlib.metadata import version

    import nerlens

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"nerlens {nerlens.__version__}",
        f"torch {version('torch')}",
        f"transformers {version('transformers')}",
    ]


@pytest.mark.parametrize("command", [[], ["explain"], ["tag"], ["methods"]])
def test_help_fits_80_columns_without_cutting_names_or_defaults(command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout
    if command == ["explain"]:
        flat = re.sub(r"[│\s]+", " ", result.stdout)  # text as read, across wrapped lines
        defaults = ("integrated_gradients", "auto", "demo", "3", "error")
        shown_defaults = [f"[default: {d}]" for d in defaults] + ["[default: entities;"]
        for shown in [*shown_defaults, "LABEL:FOIL", "--include-special"]:
            assert shown in flat


def test_methods_lists_the_registry():
    result = runner.invoke(app, ["methods"])
    assert result.exit_code == 0
    assert "integrated_gradients" in result.output


def test_top_level_names_resolve_on_first_use():
    import nerlens

    for name in nerlens.__all__:
        assert getattr(nerlens, name) is not None
    assert set(nerlens.__all__) <= set(dir(nerlens))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        nerlens.nope  # noqa: B018


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_a_gpu_is_one_line_before_loading(tmp_path):
    line = one_line_error(["tag", "Hi", "--device", "cuda", "--model", str(tmp_path / "none")])
    assert (
        line == "error: --device cuda: torch sees no CUDA device; use --device cpu or --device auto"
    )


def test_aggregation_strategy_groups_the_entities_explained(demo, tmp_path):
    text = "Angela Merkel met Joe Biden in Berlin."
    explanation = explain_json(
        tmp_path, text, "--targets", "entities", "--aggregation-strategy", "max", "--n-steps", "2"
    )
    entities = Explainer(*demo, aggregation_strategy="max")(text, []).entities
    assert explanation.targets == tuple(
        EntityTarget(e.token_start, e.token_end, e.entity_group, e.labels) for e in entities
    )
    assert len(entities) >= 2


def test_explain_analysis_options(model_dir, tmp_path):
    out = tmp_path / "words.json"
    text = "We visited Paris last weekend."
    result = runner.invoke(
        app,
        [
            "explain",
            text,
            "--model",
            model_dir,
            "--method",
            "shapley_sampling",
            "--method-option",
            "n_samples=3",
            "--gold",
            "11:16:LOC",
            "--aggregate",
            "word",
            "--evaluate",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "faithfulness" in result.output and "mean" in result.output
    saved = Explanation.load(out)
    assert saved.settings["method"] == "shapley_sampling" and saved.settings["n_samples"] == 3
    assert saved.settings["aggregated"]["level"] == "word"
    assert saved.gold[0].label == "LOC" and saved.correct is not None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--method-option", "n_samples"], "NAME=VALUE"),
        (["--method-option", "n_sample=3"], "--method-option n_sample does not apply"),
        (["--gold", "11-16-LOC"], "START:END:TYPE"),
        (["--gold-tags", "O O"], "one tag per word"),
        (["--aggregate", "sentence"], "--aggregate must be one of word, entity"),
        (["--targets", "gold"], "--targets gold needs the truth"),
        (["--gold", "11:99:LOC"], "not a non-empty span"),
    ],
)
def test_explain_analysis_options_fail_clearly(model_dir, arguments, message):
    result = runner.invoke(
        app, ["explain", "We visited Paris.", "--model", model_dir, "--n-steps", "2", *arguments]
    )
    assert result.exit_code == 2 and message in result.output, result.output


def test_methods_lists_formulas_and_options():
    result = runner.invoke(app, ["methods"])
    assert result.exit_code == 0
    for name in ("occlusion", "shapley_sampling", "lime", "saliency", "gradient_x_input"):
        assert name in result.output
    assert "n_samples=25" in result.output and "f_t(x)" in result.output
    assert "n_steps='auto'" in result.output  # the library's own default, as the CLI's


def test_batch_takes_method_options_context_and_stride(model_dir, tmp_path):
    """As explain does; progress and the summary go to stderr, stdout stays empty."""
    corpus = tmp_path / "docs.txt"
    corpus.write_text("We visited Paris.\nAngela Merkel lives in Berlin.\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["batch", str(corpus), "--out", str(out), "--model", model_dir,
         "--method", "shapley_sampling", "--method-option", "n_samples=2",
         "--long-text", "window", "--context", "16", "--stride", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "finished 1 of 1 shards: 2 documents" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())["settings"]
    assert manifest["method_options"] == {"n_samples": 2}
    assert (manifest["context"], manifest["stride"]) == (16, 4)
    line = one_line_error(["batch", str(corpus), "--out", str(out), "--method-option", "k=1"])
    assert "k does not apply to --method integrated_gradients; its options: n_steps," in line


def test_report_on_a_missing_folder_says_so(tmp_path):
    missing = str(tmp_path / "nowhere")
    line = one_line_error(["report", missing])
    assert line == f"error: {missing!r} does not exist; give the --out folder of nerlens batch"


@pytest.mark.parametrize("command", ["explain", "tag", "batch", "report", "serve", "methods"])
def test_help_shows_no_internal_metavars(command):
    """Flags show no <bool>, lists no <list[str]>, required arguments no {braces}."""
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for internal in ("<bool>", "<list[", "{"):
        assert internal not in result.output, (internal, result.output)
