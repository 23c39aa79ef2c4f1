"""The views in a real browser (Debian's chromium via Playwright): the served app and a file
written by save_html. Screenshots are kept in test-artifacts/.

Without chromium or Playwright these tests skip, unless NERLENS_REQUIRE_BROWSER=1 (set by CI),
where they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SEED_TEXT
from nerlens import Explainer
from nerlens.render.interactive import SCALE, colour, view_payload
from views_data import gliner_explanation, label_unit_scores, long_explanation

CHROMIUM = os.environ.get("NERLENS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
HOSTILE = f'{SEED_TEXT} <script>alert(1)</script> <img src=x onerror=alert(2)> "q" & AT&T'


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    return None


missing = _browser_missing()
if missing and os.environ.get("NERLENS_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"browser tests are required here but {missing}")
pytestmark = [
    pytest.mark.skipif(missing is not None, reason=str(missing)),
    pytest.mark.filterwarnings("ignore::nerlens.errors.ConvergenceWarning"),  # few steps
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A page that records every request and dialog, and fails on any script error."""
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    page = context.new_page()
    page.requests, page.dialogs, errors = [], [], []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(*args: str) -> Iterator[str]:
    """``nerlens serve ARGS`` as a real uvicorn process on a free local port: its URL."""
    port = free_port()
    command = [sys.executable, "-c", "from nerlens.cli import main; main()", "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"nerlens serve did not start: {process.stderr.read().decode()}")
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def server():
    """``nerlens serve`` with the demo model."""
    yield from serve("--max-steps", "50")


@pytest.fixture(scope="module")
def gliner_server(gliner_dir):
    """``nerlens serve`` with a tiny GLiNER: labels come with each request."""
    yield from serve("--model", gliner_dir)


def colours(page) -> list[str]:
    return page.eval_on_selector_all(
        ".nerlens [data-token-index]", "spans => spans.map(s => s.style.backgroundColor)"
    )


def click_and_check_paris(page) -> None:
    """Click another entity, then "Paris": the sentence recolours by Paris's row, B-LOC shown."""
    page.locator(".nl-tok", has_text="Emmanuel").click()
    assert "B-PER" in page.locator(".nl-detail .nl-label").inner_text()
    before = colours(page)
    paris = page.locator(".nl-tok", has_text="Paris")
    paris.click()
    after = colours(page)
    assert after != before and len(set(after)) > 3
    assert page.locator(".nl-detail .nl-label").inner_text() == "B-LOC"
    assert "nl-target" in paris.get_attribute("class")
    strongest = page.locator(".nl-for li .nl-name").first.get_attribute("data-ref-index")
    reddest = page.evaluate(
        """() => { let best = null, score = -1;
          for (const s of document.querySelectorAll('.nerlens [data-token-index]')) {
            const [r, g, b] = s.style.backgroundColor.match(/\\d+/g).map(Number);
            if (r - b > score) { score = r - b; best = s.dataset.tokenIndex; } }
          return best; }"""
    )
    assert reddest == strongest  # the deepest red is the first token "for" the label


def test_served_page_explains_and_recolours(page, server):
    page.goto(server)
    page.fill("textarea", SEED_TEXT)
    page.select_option("#nl-targets", "tokens")
    page.select_option("#nl-steps", "4")
    page.get_by_role("button", name="Explain").click()
    page.wait_for_selector(".nerlens [data-token-index]")
    click_and_check_paris(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "served-page.png", full_page=True)
    assert all(url.startswith(server) for url in page.requests)


def test_served_page_shows_errors_as_text(page, server):
    page.goto(server)
    page.fill("textarea", "   ")
    page.get_by_role("button", name="Explain").click()
    page.wait_for_selector("#nl-status.nl-error")
    assert "non-whitespace" in page.locator("#nl-status").inner_text()


def test_served_page_of_a_zero_shot_model_sends_its_labels(page, gliner_server):
    """The page asks a GLiNER for labels and a threshold, offers entities only and no O
    skipping, and refuses to send a request without labels."""
    page.goto(gliner_server)
    assert page.locator("#nl-skip-o").count() == 0
    targets = page.eval_on_selector_all("#nl-targets option", "o => o.map(x => x.value)")
    assert targets == ["entities"]
    assert page.eval_on_selector("#nl-threshold", "t => t.value") == "0.5"
    page.fill("textarea", "Apple hired Emmanuel Macron in Paris.")
    page.select_option("#nl-method", "gradient_x_input")
    page.get_by_role("button", name="Explain").click()
    page.wait_for_selector("#nl-status.nl-error")
    assert "give the entity types to look for" in page.locator("#nl-status").inner_text()
    assert not [url for url in page.requests if url.endswith("/api/view")]
    page.fill("#nl-labels", " person, location, ")
    page.fill("#nl-threshold", "0.4")
    with page.expect_request("**/api/view") as sent:
        page.get_by_role("button", name="Explain").click()
    assert json.loads(sent.value.post_data) == {
        "text": "Apple hired Emmanuel Macron in Paris.",
        "method": "gradient_x_input",
        "targets": "entities",
        "labels": ["person", "location"],
        "threshold": 0.4,
    }


@pytest.fixture(scope="module")
def hostile_file(demo, tmp_path_factory):
    model, tokenizer = demo
    explanation = Explainer(model, tokenizer, n_steps=4)(HOSTILE)
    return explanation.save_html(tmp_path_factory.mktemp("views") / "explanation.html")


def test_standalone_file_works_offline_and_shows_markup_as_text(page, hostile_file):
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )
    page.goto(hostile_file.as_uri())
    page.wait_for_selector(".nerlens [data-token-index]")
    click_and_check_paris(page)
    shown = page.evaluate(
        """() => { const text = document.querySelector(".nl-text").cloneNode(true);
          text.querySelectorAll(".nl-tag, .nl-special").forEach(n => n.remove());
          return text.textContent; }"""
    )
    assert shown == HOSTILE  # every character as text, entity tags aside
    assert page.locator(".nerlens img, .nl-text script").count() == 0
    page.locator(".nl-tok", has_text="Emmanuel").hover()  # hovering previews another target
    page.wait_for_function("document.querySelector('.nl-detail .nl-label').textContent === 'B-PER'")
    page.mouse.move(1, 1)  # leaving the text restores the clicked one
    page.wait_for_function("document.querySelector('.nl-detail .nl-label').textContent === 'B-LOC'")
    page.wait_for_timeout(200)
    assert page.dialogs == []
    assert page.requests == [hostile_file.as_uri()]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "standalone.png", full_page=True)


def test_toggles_and_target_list(page, hostile_file):
    page.goto(hostile_file.as_uri())
    page.wait_for_selector(".nerlens [data-token-index]")
    paris_row = page.locator(".nl-for li .nl-value").first.inner_text()
    page.check("text=raw scores")
    raw_row = page.locator(".nl-for li .nl-value").first.inner_text()
    assert raw_row != paris_row and "normalised" not in page.locator(".nl-legend").inner_text()
    page.uncheck("text=raw scores")
    assert page.is_checked("text=words")  # words first: Explanation.aggregate("word")
    words = page.locator(".nerlens [data-token-index]").count()
    assert page.locator(".nl-tok", has_text="Macron").count() == 1
    page.uncheck("text=words")  # the word pieces, on request
    assert page.locator(".nerlens [data-token-index]").count() > words
    assert page.locator(".nl-tok", has_text="Macro").count() == 1  # "macro" + "##n"
    assert page.locator(".nl-detail .nl-label").inner_text() == "B-LOC"  # still Paris
    options = page.locator(".nl-select option")
    assert options.count() == len(page.eval_on_selector_all(".nl-select option", "o => o"))
    last = options.nth(options.count() - 1)
    page.select_option(".nl-select", last.get_attribute("value"))
    assert page.locator(".nl-detail .nl-title").inner_text() in last.inner_text()


def test_a_2000_token_document_stays_responsive(page, tmp_path, demo):
    labels = tuple(demo[0].config.id2label[i] for i in range(len(demo[0].config.id2label)))
    path = long_explanation(labels).save_html(tmp_path / "long.html")
    page.goto(path.as_uri())
    page.wait_for_selector(".nerlens [data-token-index='1999']")
    elapsed = page.evaluate(
        """() => { const t = performance.now();
          document.querySelector(".nerlens [data-token-index='1497']").click();
          return performance.now() - t; }"""
    )
    assert elapsed < 500, f"a click took {elapsed:.0f} ms"
    box = page.locator(".nl-text").bounding_box()
    assert box["height"] <= 700  # the text scrolls inside its box instead of growing the page
    assert page.locator(".nl-detail .nl-title").inner_text() == "w1495 w1496 w1497 → PER"


def test_two_renderings_on_one_page_do_not_clash(page, tmp_path, demo):
    """As in a notebook with two outputs: each view answers only its own clicks."""
    model, tokenizer = demo
    explainer = Explainer(model, tokenizer, n_steps=2)
    first = explainer(SEED_TEXT)._repr_html_()
    second = explainer("Angela Merkel met Joe Biden in Berlin.")._repr_html_()
    path = tmp_path / "notebook.html"
    path.write_text(f"<!DOCTYPE html><meta charset='utf-8'><div>{first}</div><div>{second}</div>")
    page.goto(path.as_uri())
    views = page.locator(".nerlens")
    assert views.count() == 2
    views.nth(1).locator(".nl-tok", has_text="Berlin").click()
    assert views.nth(1).locator(".nl-detail .nl-label").inner_text() == "B-LOC"
    assert "Paris" in views.nth(0).locator(".nl-detail .nl-title").inner_text()


def test_served_page_starts_at_the_library_defaults_and_explains_entities(page, server):
    """The menus start where the library does (integrated gradients, auto steps, entities);
    a text without entities falls back to every token and says so."""
    from nerlens.methods import DEFAULT_METHOD, DEFAULT_N_STEPS

    page.goto(server)
    assert page.eval_on_selector("#nl-method", "s => s.value") == DEFAULT_METHOD
    assert page.eval_on_selector("#nl-steps", "s => s.value") == DEFAULT_N_STEPS
    assert page.eval_on_selector("#nl-targets", "s => s.value") == "entities"
    page.fill("textarea", SEED_TEXT)
    page.fill("#nl-gold", "11:16:ORG")  # the truth says ORG where the model says LOC
    page.get_by_role("button", name="Explain").click()
    page.wait_for_selector(".nerlens [data-token-index]")
    options = page.eval_on_selector_all(".nl-select option", "o => o.map(x => x.textContent)")
    assert [o.split(" (p")[0] for o in options] == ["#3 Paris → LOC", "#8 Emmanuel Macron → PER"]
    assert all(o.endswith("✗ wrong") for o in options)
    assert page.locator(".nl-tag.nl-missed-tag").inner_text() == "missed ORG"
    assert page.locator(".nl-tag.nl-spurious").all_inner_texts() == [
        "LOC · spurious", "PER · spurious"
    ]  # fmt: skip
    assert page.locator(".nl-detail .nl-wrong").inner_text() == "✗ wrong"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "served-gold.png", full_page=True)
    page.fill("#nl-gold", "")
    page.fill("textarea", "the cat sat on the mat.")
    page.get_by_role("button", name="Explain").click()
    page.wait_for_selector("#nl-status:has-text('no entity')")
    assert page.locator(".nl-select option").count() == 7  # every token instead


def test_without_javascript_the_saved_page_shows_the_default_target(browser, demo, tmp_path):
    """As GitHub, nbviewer and untrusted notebooks show it: no script runs, the static view
    (coloured sentence, entity chips, top tokens) is there; with scripts it is replaced."""
    model, tokenizer = demo
    path = Explainer(model, tokenizer, n_steps=4)(SEED_TEXT, "entities").save_html(
        tmp_path / "static.html"
    )
    viewport = {"width": 1000, "height": 400}
    context = browser.new_context(viewport=viewport, java_script_enabled=False)
    page = context.new_page()
    page.goto(path.as_uri())
    static = page.locator(".nerlens .nl-static")
    assert "Paris → LOC" in static.inner_text() and "top tokens for LOC" in static.inner_text()
    assert page.locator(".nl-chip").all_inner_texts() == ["LOC", "PER"]
    words = page.eval_on_selector_all(
        "[data-static-index]",
        "s => s.map(x => [x.textContent, getComputedStyle(x).backgroundColor])",
    )
    assert "Macron" in [w for w, _ in words] and len({c for _, c in words}) > 3
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "static-no-js.png", full_page=True)
    context.close()
    scripted = browser.new_page()
    scripted.goto(path.as_uri())
    scripted.wait_for_selector(".nerlens [data-token-index]")
    assert scripted.locator(".nl-static").count() == 0
    scripted.close()


@pytest.mark.parametrize("width", [1200, 900])
def test_the_corpus_report_fits_the_window(browser, report_page, width):
    """No table pushes the page sideways: wide tables wrap or scroll inside their own box."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(report_page.as_uri())
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"report-{width}.png", full_page=True)
    page.close()


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    """The report of 12 held-out sentences with their gold tags (the demo model, 2 steps)."""
    import json

    import nerlens.corpus
    from nerlens.corpus.report import write_report

    folder = tmp_path_factory.mktemp("report")
    heldout = Path(__file__).resolve().parents[1] / "training" / "data" / "heldout.jsonl"
    with (folder / "heldout.conll").open("w", encoding="utf-8") as stream:
        for line in heldout.read_text(encoding="utf-8").splitlines()[:12]:
            sentence = json.loads(line)
            stream.writelines(f"{w} {t}\n" for w, t in zip(sentence["tokens"], sentence["tags"]))
            stream.write("\n")
    nerlens.corpus.run(
        folder / "heldout.conll",
        folder / "run",
        targets="entities",
        method_options={"n_steps": 2},
        progress=False,
    )
    return write_report(nerlens.corpus.open(folder / "run"), folder / "report.html")


@pytest.fixture(scope="module")
def gliner_file(gliner, tmp_path_factory):
    """A tiny GLiNER's entities and one contrast ("Paris": location rather than person)."""
    explanation = gliner_explanation(gliner, contrast=True)
    return explanation, explanation.save_html(tmp_path_factory.mktemp("gliner") / "spans.html")


def label_parts(page) -> dict[str, str]:
    return dict(
        page.eval_on_selector_all(
            ".nl-detail .nl-label-row",
            "rows => rows.map(r => [r.dataset.label, r.querySelector('.nl-value').textContent])",
        )
    )


def expected_parts(explanation, index: int) -> dict[str, str]:
    """Each label's part of target ``index`` as the page writes it, from the word view."""
    parts = {}
    for label, value in label_unit_scores(explanation, index).items():
        shown = round(value, 3)
        parts[label] = "0.000" if shown == 0 else f"{'+' if shown > 0 else '−'}{abs(shown):.3f}"
    return parts


def test_a_span_models_prompt_row_is_above_the_text_and_clicks_show_each_labels_part(
    page, gliner_file
):
    explanation, path = gliner_file
    words = explanation.aggregate("word")
    page.goto(path.as_uri())
    page.wait_for_selector(".nerlens [data-token-index]")
    prompt = page.locator(".nl-prompt [data-token-index]")
    assert prompt.all_inner_texts() == ["<<ENT>>", "person", "<<ENT>>", "location", "<<SEP>>"]
    assert page.locator(".nl-prompt .nl-marker").count() == 3  # the markers, muted
    above = page.locator(".nl-prompt").bounding_box()
    text = page.locator(".nl-text").bounding_box()
    assert above["y"] + above["height"] <= text["y"]  # its own row, above the text
    shown = page.evaluate(
        """() => { const text = document.querySelector(".nl-text").cloneNode(true);
          text.querySelectorAll(".nl-tag, .nl-special").forEach(n => n.remove());
          return text.textContent; }"""
    )
    assert shown == SEED_TEXT  # the prompt is not in the text
    entities = [i for i, t in enumerate(words.targets) if t.foil is None]
    for index in (entities[-1], entities[0]):  # click an entity's first word
        start = words.targets[index].start
        page.locator(f".nl-text [data-token-index='{start}']").click()
        target = view_payload(explanation)["levels"]["word"]["targets"][index]
        assert page.locator(".nl-detail .nl-title").inner_text() == target["text"]
        assert page.locator(".nl-detail .nl-kind").inner_text().lower() == "span"
        assert page.locator(".nl-detail .nl-p").inner_text() == f"score = {target['p']:.3f}"
        assert target["p"] == pytest.approx(explanation.entities[index].score, abs=1e-4)
        assert label_parts(page) == expected_parts(explanation, index)
        own = page.locator(".nl-label-row.nl-own").get_attribute("data-label")
        assert own == words.targets[index].label
        # the prompt's words are coloured by the same target as the text
        for unit in (2, 4):
            stored = round(float(words.scores[index, unit]) * SCALE) / SCALE
            colour_of = page.locator(f".nl-prompt [data-token-index='{unit}']")
            assert colour_of.evaluate("s => s.style.backgroundColor") == colour(stored).replace(
                ",", ", "
            )
    tops = page.locator(".nl-for .nl-name, .nl-against .nl-name").all_inner_texts()
    assert tops and not {"person", "location"} & set(tops)  # the prompt is listed per label
    contrast = len(words) - 1
    page.select_option(".nl-select", str(contrast))
    assert page.locator(".nl-detail .nl-label").inner_text() == "location rather than person"
    value = float(explanation.target_values[contrast])
    assert f"score − score(person) = {'+' if value >= 0 else '−'}{abs(value):.3f}" in (
        page.locator(".nl-detail .nl-stats").inner_text()
    )
    assert label_parts(page) == expected_parts(explanation, contrast)
    assert sorted(
        page.locator(".nl-label-row.nl-own").evaluate_all("rows => rows.map(r => r.dataset.label)")
    ) == ["location", "person"]  # label and foil
    page.uncheck("text=words")  # the pieces: the prompt row stays, the parts are the same sums
    assert page.locator(".nl-prompt [data-token-index]").count() == 5
    assert label_parts(page).keys() == {"person", "location"}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "gliner-prompt.png", full_page=True)
