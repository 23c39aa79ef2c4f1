"""Terminal view: plain text when piped, blocks when narrow, NO_COLOR, honest short lists; CLI
--format json and --plot."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from conftest import SEED_TEXT
from nerlens import Explainer, Explanation, TokenTarget
from nerlens.cli import app
from nerlens.errors import InputError
from nerlens.render.terminal import entities_text, print_terminal, render_terminal
from views_data import gliner_explanation, label_unit_scores

pytestmark = pytest.mark.filterwarnings("ignore::nerlens.errors.ConvergenceWarning")  # few steps
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*3[0-7]m|\x1b\[[0-9;]*;3[0-7]")


@pytest.fixture(scope="module")
def explanation(demo):
    model, tokenizer = demo
    return Explainer(model, tokenizer, n_steps=4)(SEED_TEXT)


def piped(explanation: Explanation, top: int = 3) -> str:
    out = io.StringIO()
    print_terminal(explanation, Console(file=out, width=40), top=top)
    return out.getvalue()


def test_piped_output_is_plain_text_with_tags_and_numbers(explanation):
    out = piped(explanation)
    lines = out.splitlines()
    assert lines[0] == "We visited Paris/LOC last weekend, where [Emmanuel Macron]/PER lives."
    assert lines[1].startswith("# p: the model's probability of the label · Δ: convergence delta")
    assert lines[2].split("\t") == [
        "#", "target", "label", "p", "delta", "top 3 for", "top 3 against"
    ]  # fmt: skip
    row = explanation.at(3)
    cells = next(line for line in lines if line.startswith("3\t")).split("\t")
    assert cells[1:4] == ["Paris", "B-LOC", f"{row.probability:.2f}"]  # as written
    assert cells[4].rstrip("!") == f"{row.delta:.1e}"
    words = explanation.aggregate("word")  # the reasons are words, scored over their pieces
    scores = words.row(row.index).scores
    best = int(np.argmax(scores))
    assert cells[5].startswith(f"{words.tokens[best]} +{scores[best]:.2f}")
    assert "\x1b[" not in out and max(map(len, lines)) > 40  # never cropped to the width


def test_narrow_terminal_gets_one_block_per_target(explanation):
    console = Console(file=io.StringIO(), force_terminal=True, width=60, color_system=None)
    console.print(render_terminal(explanation))
    out = console.file.getvalue()
    assert "#3 Paris → B-LOC  p 1.00" in out and "  for:     Paris +" in out
    assert max(len(line) for line in out.splitlines()) <= 60


def test_wide_terminal_gets_a_table_and_no_color_is_honoured(explanation, monkeypatch):
    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    console.print(render_terminal(explanation))
    assert ANSI_COLOUR.search(console.file.getvalue())
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Console(file=io.StringIO(), force_terminal=True, width=160)
    plain.print(render_terminal(explanation))
    out = plain.file.getvalue()
    assert "top 3 for" in out and "┃" in out
    assert not ANSI_COLOUR.search(out)


def test_repeated_tokens_carry_their_position_and_tiny_scores_are_left_out(tokenizer, tiny_model):
    text = "the cat saw the dog"
    base = Explainer(tiny_model, tokenizer, n_steps=2)(text, [TokenTarget(2, "O")])
    attributions = np.zeros_like(base.attributions)
    attributions[0, 1:6] = [0.5, -0.3, -0.2, 0.4, -0.003]  # the cat saw the dog; ‖·‖ ≈ 0.735
    data = base.to_dict() | {"attributions": attributions.tolist()}
    out = piped(Explanation.from_dict(data), top=5)
    row = out.splitlines()[-1].split("\t")
    assert row[5] == "the #1 +0.68, the #4 +0.54"
    assert row[6] == "cat -0.41, saw -0.27"  # 'dog' at -0.004 rounds to 0.00: omitted
    assert "0.00" not in out.split("\n", 3)[3]


def test_cli_format_json_prints_the_explanation(demo, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "explain",
            SEED_TEXT,
            "--n-steps",
            "2",
            "--format",
            "json",
            "--plot",
            str(tmp_path / "h.svg"),
        ],
    )
    assert result.exit_code == 0, result.output
    explanation = Explanation.from_json(result.stdout)
    assert explanation.text == SEED_TEXT and explanation.settings["n_steps"] == 2
    assert (tmp_path / "h.svg").read_text().lstrip().startswith("<?xml")


def test_cli_piped_text_and_plot_png(tmp_path):
    result = CliRunner().invoke(
        app, ["explain", SEED_TEXT, "--n-steps", "2", "--plot", str(tmp_path / "h.png")]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("We visited Paris/LOC")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "yaml"], "error: --format must be one of text, json; got 'yaml'"),
        (["--plot", "out.pdf"], "error: --plot must name a .png or .svg file; got 'out.pdf'"),
        (["--plot", "/nonexistent/h.png"], "error: --plot '/nonexistent/h.png': the folder"),
    ],
)
def test_cli_rejects_bad_format_and_plot_before_any_work(args, message):
    result = CliRunner().invoke(app, ["explain", SEED_TEXT, *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1


@pytest.fixture(scope="module")
def judged(demo):
    """Entity targets of a text with word pieces, against a gold that the model partly misses."""
    model, tokenizer = demo
    gold = [(0, 15, "PER"), (37, 46, "ORG")]  # Magdeburg is gold ORG; the model says LOC
    return Explainer(model, tokenizer, n_steps=4)(PIECES_TEXT, "entities", gold=gold)


PIECES_TEXT = "Emmanuel Macron met Angela Merkel in Magdeburg."


def test_entities_and_reasons_are_written_as_in_the_text_and_pieces_on_request(judged):
    rows = [line.split("\t") for line in piped(judged).splitlines()[3:6]]
    assert [r[1] for r in rows] == ["Emmanuel Macron", "Angela Merkel", "Magdeburg"]
    assert not any("##" in cell for r in rows for cell in r)  # no piece anywhere
    reasons = [name for r in rows for name in re.findall(r"(\S+) [+-]\d", f"{r[5]}, {r[6]}")]
    assert reasons and set(reasons) <= set(PIECES_TEXT.rstrip(".").split()) | {"."}
    out = io.StringIO()
    print_terminal(judged, Console(file=out, width=40), view="tokens")
    pieces = [line.split("\t") for line in out.getvalue().splitlines()[3:6]]
    assert [r[1] for r in pieces] == ["emmanuel macro ##n", "angela mer ##kel", "mag ##de ##burg"]
    with pytest.raises(InputError, match=r"view must be one of \['words', 'tokens'\]"):
        render_terminal(judged, view="pieces")


def test_a_token_target_inside_a_word_names_the_word_and_its_piece(demo):
    model, tokenizer = demo
    explanation = Explainer(model, tokenizer, n_steps=2)(PIECES_TEXT, [TokenTarget(3, "I-PER")])
    assert piped(explanation).splitlines()[3].split("\t")[1] == "Macron (n)"


def test_gold_shows_per_target_whether_the_model_was_right_and_what_it_missed(judged):
    lines = piped(judged).splitlines()
    assert lines[2].split("\t")[-1] == "gold"
    assert [line.split("\t")[-1] for line in lines[3:6]] == ["right", "wrong", "wrong"]
    assert (
        "# gold: missed Magdeburg (ORG); spurious (predicted, not in the gold) "
        "Angela Merkel (PER), Magdeburg (LOC)"
    ) in lines
    console = Console(file=io.StringIO(), force_terminal=True, width=200, color_system=None)
    console.print(render_terminal(judged))
    table = console.file.getvalue()
    assert "✓ right" in table and table.count("✗ wrong") == 2 and "missed Magdeburg" in table


def test_cli_explains_entities_by_default_and_tokens_when_there_are_none():
    result = CliRunner().invoke(app, ["explain", PIECES_TEXT, "--n-steps", "2"])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t")[1] for line in result.stdout.splitlines()[3:] if "\t" in line]
    assert rows == ["Emmanuel Macron", "Angela Merkel", "Magdeburg"]
    assert result.stderr == ""
    none = CliRunner().invoke(app, ["explain", "the cat sat.", "--n-steps", "2"])
    assert none.exit_code == 0, none.output
    assert [line.split("\t")[1] for line in none.stdout.splitlines()[3:7]] == [
        "the", "cat", "sat", "."
    ]  # fmt: skip
    assert none.stderr.startswith("note: the model predicts no entity in this text")


def test_cli_gold_marks_every_output_and_pieces_shows_word_pieces(tmp_path):
    args = ["explain", PIECES_TEXT, "--n-steps", "2", "--gold", "0:15:PER", "--gold", "37:46:ORG"]
    result = CliRunner().invoke(app, [*args, "--pieces", "--json", str(tmp_path / "e.json")])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()[3:6]]
    assert [(r[1], r[-1]) for r in rows] == [
        ("emmanuel macro ##n", "right"), ("angela mer ##kel", "wrong"), ("mag ##de ##burg", "wrong")
    ]  # fmt: skip
    assert Explanation.load(tmp_path / "e.json").to_dict()["correct"] == [True, False, False]


# ---------------------------------------------------------------------- a span model (GLiNER)
@pytest.fixture(scope="module")
def spans(gliner):
    return gliner_explanation(gliner)


def test_a_span_model_shows_its_label_prompt_above_the_text_and_each_labels_part(spans):
    lines = piped(spans).splitlines()
    assert lines[0] == "label prompt: <<ENT>> person <<ENT>> location <<SEP>>"
    assert lines[1] == entities_text(spans, plain=True).plain  # the text, with its entities
    assert "label prompt: each label's summed score" in lines[2]
    header = lines[3].split("\t")
    assert header[-1] == "label prompt"
    rows = [line.split("\t") for line in lines[4:]]
    assert len(rows) == len(spans) > 0
    words = set(re.findall(r"\w+|[^\w\s]", SEED_TEXT))
    for index, cells in enumerate(rows):
        expected = ", ".join(
            f"{label} {'0.00' if round(abs(v), 2) == 0 else f'{v:+.2f}'}"
            for label, v in label_unit_scores(spans, index).items()
        )
        assert cells[-1] == expected
        reasons = re.findall(r"(\S+) [+-]\d", f"{cells[5]}, {cells[6]}")
        assert set(reasons) <= words  # the text's words; the prompt is listed per label
    assert [c[2] for c in rows] == [t.label for t in spans.targets]


def test_a_span_models_prompt_row_in_a_table_and_in_blocks(spans):
    for width, per_label in ((200, "┃ label prompt"), (70, "\n  labels:  person ")):
        console = Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)
        console.print(render_terminal(spans, view="tokens"))
        out = console.file.getvalue()
        first, second = out.splitlines()[:2]
        assert first == "label prompt: <<ENT>> person <<ENT>> location <<SEP>>"
        assert second.startswith("We")
        assert per_label in out


def test_token_classifiers_show_no_prompt_row(explanation):
    assert "prompt" not in piped(explanation) and "labels:" not in piped(explanation)
