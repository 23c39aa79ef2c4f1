"""The web app with a zero-shot span model (GLiNER): labels and decoding options per request,
bounded by the operator; answers equal the library's and ``predict_entities``; span targets;
every bad request a 4xx naming the field; the page asks for labels. Token classifiers keep
their request body and page."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import SEED_TEXT
from nerlens import Explainer, Explanation
from nerlens.cli import app
from nerlens.models import kind_of
from nerlens.server import ServerSettings, create_app
from nerlens.server.admission import measured_speed
from nerlens.targets import target_to_dict

TEXT = "Apple hired Emmanuel Macron in Paris."
LABELS = ["person", "location", "organization"]
SETTINGS = ServerSettings(
    max_text_chars=300, max_steps=20, max_targets=40, max_labels=4, max_label_chars=20,
    tokens_per_second=1e9,
)  # fmt: skip

pytestmark = pytest.mark.filterwarnings("ignore::nerlens.errors.ConvergenceWarning")  # few steps


@pytest.fixture(scope="module")
def client(gliner):
    model, tokenizer = gliner
    with TestClient(create_app(model, tokenizer, SETTINGS)) as client:
        yield client


def library(gliner, text, targets=None, method="gradient_x_input", **options):
    model, tokenizer = gliner
    explainer = Explainer(model, tokenizer, method, long_text="window", progress=False, **options)
    return explainer(text, targets)


def gliner_dicts(entities):
    return [(e["start"], e["end"], e["text"], e["label"]) for e in entities]


# ---------------------------------------------------------------------- answers
def test_explain_with_labels_per_request_equals_the_library(client, gliner):
    for labels in (LABELS, ["city", "person"]):  # each request its own prompt; nothing kept
        body = {"text": TEXT, "labels": labels, "method": "gradient_x_input"}
        response = client.post("/api/explain", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer.pop("warnings") == []
        expected = library(gliner, TEXT, labels=labels)
        assert Explanation.from_dict(answer) == expected
        assert answer["labels"] == labels and answer["tokens"][2] == labels[0]


@pytest.mark.parametrize(
    "options",
    [{}, {"threshold": 0.51}, {"threshold": 0.3, "flat_ner": False}, {"multi_label": True}],
)
def test_decoding_options_per_request_give_predict_entities(client, gliner, options):
    model, _ = gliner
    expected = model.predict_entities(TEXT, LABELS, **options)
    tagged = client.post("/api/tag", json={"text": TEXT, "labels": LABELS, **options})
    assert tagged.status_code == 200, tagged.text
    got = tagged.json()["entities"]
    assert gliner_dicts(got) == gliner_dicts(expected) and expected
    np.testing.assert_allclose([e["score"] for e in got], [e["score"] for e in expected], atol=1e-5)
    body = {"text": TEXT, "labels": LABELS, "method": "gradient_x_input", **options}
    explained = Explanation.from_dict(client.post("/api/explain", json=body).json())
    assert gliner_dicts([e.as_gliner() for e in explained.entities]) == gliner_dicts(expected)
    assert [t.label for t in explained.targets] == [e["label"] for e in expected]


def test_span_targets_in_a_request(client, gliner):
    model, tokenizer = gliner
    explainer = Explainer(model, tokenizer, labels=LABELS)
    targets = [
        explainer.span_target(TEXT, 0, 5, "organization"),
        explainer.span_target(TEXT, 0, 5, "organization", "person"),
        explainer.span_target(TEXT, 12, 27, "person"),
    ]
    body = {
        "text": TEXT,
        "labels": LABELS,
        "method": "gradient_x_input",
        "targets": [target_to_dict(t) for t in targets],
    }
    response = client.post("/api/explain", json=body)
    assert response.status_code == 200, response.text
    explanation = Explanation.from_dict(response.json())
    assert explanation.targets == tuple(targets)
    assert explanation == library(gliner, TEXT, targets, labels=LABELS)


def test_tag_for_a_token_classifier_gives_the_pipelines_dicts(demo):
    model, tokenizer = demo
    with TestClient(create_app(model, tokenizer, SETTINGS)) as client:
        response = client.post("/api/tag", json={"text": SEED_TEXT})
        assert response.status_code == 200, response.text
        expected = [e.as_pipeline() for e in Explainer(model, tokenizer)(SEED_TEXT, []).entities]
        assert response.json() == {"entities": expected}
        refused = client.post("/api/tag", json={"text": SEED_TEXT, "labels": ["person"]})
        assert refused.status_code == 422
        assert refused.json()["error"] == "labels: Extra inputs are not permitted"


# ---------------------------------------------------------------------- refusals
P = {"text": TEXT, "labels": ["p"]}  # a good request, to spoil one field at a time


def span(start: int, end: int, label: str) -> dict:
    return {"kind": "span", "start": start, "end": end, "label": label}


BAD_REQUESTS = [
    ({"text": TEXT}, "labels: Field required"),
    ({**P, "labels": []}, "labels: List should have at least 1 item"),
    ({**P, "labels": ["a", "b", "c", "d", "e"]}, "labels: List should have at most 4 items"),
    ({**P, "labels": ["x" * 21]}, "labels.0: String should have at most 20 characters"),
    ({**P, "labels": "person"}, "labels: Input should be a valid list"),
    ({**P, "labels": [7]}, "labels.0: Input should be a valid string"),
    ({**P, "labels": ["a", "a"]}, "labels must be distinct, got ['a', 'a']"),
    ({**P, "labels": [" "]}, "labels must be non-blank entity-type names, got [' ']"),
    ({**P, "threshold": 1}, "threshold: Input should be less than 1"),
    ({**P, "threshold": -0.1}, "threshold: Input should be greater than or equal to 0"),
    ({**P, "flat_ner": "no"}, "flat_ner: Input should be a valid boolean"),
    ({**P, "targets": "tokens"}, "targets: Input should be 'entities'"),
    ({**P, "ignored_labels": ["O"]}, "ignored_labels: Extra inputs are not permitted"),
    (
        {**P, "targets": [{"kind": "token", "position": 7, "label": "p"}]},
        "targets.0.kind: Input should be 'span'",
    ),
    (
        {**P, "targets": [span(3, 5, "p")]},
        "tokens 3..4 are not a span this model scores: a span must cover whole words",
    ),
    ({**P, "targets": [span(4, 5, "q")]}, "label 'q' is not one of the model's labels: ['p']"),
    ({**P, "model": "/etc"}, "model: Extra inputs are not permitted"),
    ({**P, "model_path": "x"}, "model_path: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("body", "message"), BAD_REQUESTS)
def test_bad_requests_get_a_422_naming_the_field(client, body, message):
    for endpoint in ("/api/explain", "/api/tag"):
        if endpoint == "/api/tag" and ("targets" in body or "ignored_labels" in body):
            continue  # tag has no targets
        response = client.post(endpoint, json=body)
        assert response.status_code == 422, (endpoint, response.text)
        assert message in response.json()["error"], (endpoint, response.text)


def test_max_targets_bounds_a_span_models_entities(gliner):
    model, tokenizer = gliner
    with TestClient(create_app(model, tokenizer, ServerSettings(max_targets=2))) as client:
        response = client.post("/api/explain", json={"text": TEXT, "labels": LABELS})
    count = len(model.predict_entities(TEXT, LABELS))
    assert count > 2
    assert response.status_code == 422
    assert response.json()["error"].startswith(
        f"the text has {count} predicted entities, so targets='entities' would explain {count} "
        "targets; this server explains at most 2 per request"
    )


def test_the_cost_check_counts_the_label_prompt(gliner):
    """One span target, 20 steps: 2 + 20 x (1 + 1) = 42 rows; a row is the whole input, the
    label prompt included: 15 tokens with two labels, 13 with one."""
    model, tokenizer = gliner
    settings = ServerSettings(timeout_s=1.0, tokens_per_second=100.0)
    target = [span(6, 7, "person")]
    with TestClient(create_app(model, tokenizer, settings)) as client:
        for labels, cost, seconds in ((["person", "location"], 630, 6.3), (["person"], 546, 5.5)):
            body = {"text": TEXT, "labels": labels, "n_steps": 20, "targets": target}
            response = client.post("/api/explain", json=body)
            assert response.status_code == 422
            assert response.json()["error"].startswith(
                f"this request needs at least {cost} token-rows of model passes, at least "
                f"{seconds} s at this server's speed"
            )


def test_the_servers_speed_is_measured_on_the_models_own_input(gliner, demo):
    for model, tokenizer in (gliner, demo):
        assert measured_speed(kind_of(model, tokenizer)) > 0


# ---------------------------------------------------------------------- page and schema
def _config(page: str) -> dict:
    return json.loads(re.search(r"id='nl-config'>(.*?)</script>", page).group(1))


def test_the_page_asks_for_labels_and_a_threshold(client):
    page = client.get("/").text
    assert "<input id='nl-labels'" in page and "id='nl-threshold'" in page
    assert "id='nl-skip-o'" not in page and "<option value='tokens'" not in page
    config = _config(page)
    assert config["modelOptions"] == ["labels", "threshold", "flat_ner", "multi_label"]
    assert config["selectors"] == ["entities"] and config["labels"] == []
    assert (config["maxLabels"], config["maxLabelChars"]) == (4, 20)
    assert config["defaults"]["threshold"] == 0.5


def test_a_token_classifiers_page_has_no_labels_input(demo):
    model, tokenizer = demo
    with TestClient(create_app(model, tokenizer, SETTINGS)) as client:
        page = client.get("/").text
        body = client.get("/openapi.json").json()["components"]["schemas"]["ExplainRequest"]
    assert "id='nl-labels'" not in page and "id='nl-threshold'" not in page
    assert "id='nl-skip-o'" in page and "<option value='tokens'" in page
    assert _config(page)["modelOptions"] == [] and _config(page)["selectors"] == [
        "tokens",
        "entities",
    ]
    assert "labels" not in body["properties"] and "ignored_labels" in body["properties"]


def test_openapi_shows_the_label_bounds(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    labels = schemas["ExplainRequest"]["properties"]["labels"]
    assert (labels["minItems"], labels["maxItems"]) == (1, 4)
    assert labels["items"]["maxLength"] == 20
    assert "labels" in schemas["ExplainRequest"]["required"]
    assert schemas["TagRequest"]["additionalProperties"] is False


def test_serve_rejects_bad_label_limits_in_one_line():
    for flag in ("--max-labels", "--max-label-chars"):
        result = CliRunner().invoke(app, ["serve", flag, "0"])
        assert result.exit_code == 2 and flag in result.stderr
