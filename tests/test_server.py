"""The web app's API: results equal the library's, every bad request a clear 4xx, bounded work,
correct under concurrency, and nothing a request says can choose a model or a path."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException
from typer.testing import CliRunner

from conftest import SEED_TEXT
from nerlens import (
    ContrastTarget,
    EntityTarget,
    Explainer,
    Explanation,
    TokenTarget,
    available_methods,
)
from nerlens.cli import app
from nerlens.errors import ConvergenceWarning
from nerlens.runner import count_passes
from nerlens.server import ServerSettings, create_app
from nerlens.server.admission import Pool
from nerlens.targets import target_to_dict

SETTINGS = ServerSettings(max_text_chars=300, max_steps=20, max_targets=40, workers=4)

pytestmark = pytest.mark.filterwarnings("ignore::nerlens.errors.ConvergenceWarning")  # few steps


@pytest.fixture(scope="module")
def client(demo):
    model, tokenizer = demo
    with TestClient(create_app(model, tokenizer, SETTINGS)) as client:
        yield client


def library(demo, text, targets="tokens", ignored_labels=(), **options):
    model, tokenizer = demo
    return Explainer(model, tokenizer, long_text="window", progress=False, **options)(
        text, targets, ignored_labels=ignored_labels
    )


def test_explain_returns_the_librarys_explanation_and_its_warnings(client, demo):
    body = {"text": SEED_TEXT, "n_steps": 3, "ignored_labels": ["O"]}
    response = client.post("/api/explain", json=body)
    assert response.status_code == 200, response.text
    with pytest.warns(ConvergenceWarning) as warned:
        expected = library(demo, SEED_TEXT, n_steps=3, ignored_labels=["O"])
    answer = response.json()
    assert answer.pop("warnings") == [str(w.message) for w in warned]
    assert answer == expected.to_dict()
    assert Explanation.from_dict(response.json()) == expected


def test_a_result_without_warnings_says_so(client):
    body = {"text": SEED_TEXT, "method": "gradient_x_input", "targets": "entities"}
    for endpoint in ("/api/explain", "/api/view"):
        assert client.post(endpoint, json=body).json()["warnings"] == []


def test_entities_with_a_pipeline_aggregation_strategy(client, demo):
    body = {"text": SEED_TEXT, "n_steps": 2, "targets": "entities", "aggregation_strategy": "max"}
    response = client.post("/api/explain", json=body)
    assert response.status_code == 200, response.text
    expected = library(demo, SEED_TEXT, "entities", n_steps=2, aggregation_strategy="max")
    assert Explanation.from_dict(response.json()) == expected


def test_explicit_targets_of_every_kind(client, demo):
    targets = [
        TokenTarget(3, "B-LOC"),
        EntityTarget(8, 11, "PER", ("B-PER", "I-PER", "I-PER")),
        ContrastTarget(3, "B-LOC", "B-ORG"),
    ]
    body = {"text": SEED_TEXT, "n_steps": 2, "targets": [target_to_dict(t) for t in targets]}
    response = client.post("/api/explain", json=body)
    assert response.status_code == 200, response.text
    expected = library(demo, SEED_TEXT, targets, n_steps=2)
    assert Explanation.from_dict(response.json()) == expected


def test_adaptive_steps_are_bounded_by_the_operators_max_steps(client, demo):
    """n_steps="auto" may not spend more nodes per target than --max-steps allows (20 here; the
    demo model's entity targets need more for the default tolerance)."""
    body = {"text": SEED_TEXT, "n_steps": "auto", "targets": "entities"}
    response = client.post("/api/explain", json=body)
    assert response.status_code == 200, response.text
    explanation = Explanation.from_dict(response.json())
    assert explanation.settings["max_steps"] == 20
    assert 0 < explanation.steps.max() <= 20
    expected = library(demo, SEED_TEXT, "entities", n_steps="auto", max_steps=20)
    assert explanation == expected


def test_a_request_without_steps_gets_the_librarys_default_within_the_operators_bound(client):
    """The server's default n_steps is the method's declared one ("auto"), bounded by
    --max-steps like an explicit "auto"; a method without steps gets no step options."""
    body = {"text": SEED_TEXT, "targets": "entities"}
    explanation = Explanation.from_dict(client.post("/api/explain", json=body).json())
    assert explanation.settings["n_steps"] == "auto"
    assert explanation.settings["max_steps"] == 20
    occluded = client.post("/api/explain", json={**body, "method": "occlusion"})
    assert occluded.status_code == 200, occluded.text


def test_view_endpoint_gives_the_explanation_and_the_views_data(client):
    data = client.post("/api/view", json={"text": SEED_TEXT, "n_steps": 2}).json()
    assert data["warnings"] and data["view"]["warning"] == " ".join(data["warnings"])
    assert data["view"]["text"] == SEED_TEXT
    assert data["view"]["levels"]["subword"]["labels"] == list(
        Explanation.from_dict(data["explanation"]).predicted_labels
    )


BAD_REQUESTS = [
    ({}, "text: Field required"),
    ({"text": ""}, "text: String should have at least 1 character"),
    ({"text": "   "}, "text must contain at least one non-whitespace character"),
    ({"text": 42}, "text: Input should be a valid string"),
    ({"text": ["a"]}, "text: Input should be a valid string"),
    ({"text": "a" * 301}, "text: String should have at most 300 characters"),
    ({"text": "hi", "method": "shap"}, "method: Input should be '"),
    ({"text": "hi", "ignored_labels": ["B-FOO"]}, "ignored_labels.0: Input should be 'O', "),
    ({"text": "hi", "n_steps": 0}, "n_steps: Input should be 'auto' or Input should be greater"),
    ({"text": "hi", "n_steps": 10**9}, "less than or equal to 20"),
    ({"text": "hi", "n_steps": "many"}, "n_steps: Input should be 'auto' or"),
    (
        {"text": "hi", "method": "occlusion", "n_steps": "auto"},
        "n_steps does not apply to method 'occlusion'; leave it out, or choose a method that "
        "takes steps: ['integrated_gradients']",
    ),
    ({"text": "hi", "targets": "words"}, "targets: Input should be 'tokens' or 'entities'"),
    (
        {"text": "hi", "targets": [{"kind": "token", "position": 1, "label": "B-FOO"}]},
        "label 'B-FOO' is not one of the model's labels",
    ),
    (
        {"text": "hi", "targets": [{"kind": "token", "position": 9, "label": "O"}]},
        "points at token 9, but the text has 3 tokens",
    ),
    (
        {"text": "hi", "targets": [{"kind": "token", "position": 1, "label": "O"}] * 41},
        "List should have at most 40 items",
    ),
    ({"text": "word " * 50}, "the text has 50 tokens, so targets='tokens' would explain up to 50"),
    ({"text": "hi", "model": "bert-base-cased"}, "model: Extra inputs are not permitted"),
    ({"text": "hi", "aggregation_strategy": "none"}, "aggregation_strategy: Input should be"),
    ({"text": "hi", "trust_remote_code": True}, "trust_remote_code: Extra inputs are not permit"),
    ([SEED_TEXT], "Input should be a valid dictionary"),
]


@pytest.mark.parametrize(("body", "message"), BAD_REQUESTS)
def test_bad_requests_get_a_4xx_json_error_saying_what_is_wrong(client, body, message):
    response = client.post("/api/explain", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]
    assert not re.search(r"internal_batch_size|max_memory_mb|kwargs", response.text)


def test_a_lone_surrogate_in_the_json_text_gets_the_422_json(client):
    response = client.post(
        "/api/explain",
        content=b'{"text": "Caf\\udce9"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == (
        "text: is not Unicode text (it holds a lone surrogate); send valid UTF-8 text"
    )


def test_errors_never_echo_the_input_and_big_bodies_get_413(demo):
    model, tokenizer = demo
    settings = ServerSettings(max_text_chars=300, max_body_bytes=20_000)
    with TestClient(create_app(model, tokenizer, settings)) as client:
        long_text = "Berlin " * 2000  # 14,000 bytes: under the body limit, over the text limit
        response = client.post("/api/explain", json={"text": long_text})
        assert response.status_code == 422
        assert "Berlin" not in response.text and len(response.content) < 2000
        huge = {"text": "x" * 50_000}
        response = client.post("/api/explain", json=huge)
        assert response.status_code == 413
        assert response.json() == {
            "error": "the request body is larger than this server's limit of 20,000 bytes"
        }
        chunks = (b'{"text": "' + b"x" * 10_000 if i == 0 else b"x" * 10_000 for i in range(5))
        response = client.post(  # no Content-Length: counted as it arrives
            "/api/explain", content=chunks, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert client.get("/healthz").status_code == 200


def test_malformed_json_is_a_4xx(client):
    response = client.post(
        "/api/explain", content=b'{"text": "hi",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"].startswith("malformed JSON")


def test_a_request_naming_a_model_or_path_changes_nothing(client):
    before = client.post("/api/explain", json={"text": SEED_TEXT, "n_steps": 2}).json()
    for field, value in [("model", "/etc"), ("model_path", "/tmp"), ("path", "../secrets")]:
        refused = client.post("/api/explain", json={"text": SEED_TEXT, field: value})
        assert refused.status_code == 422
    after = client.post("/api/explain", json={"text": SEED_TEXT, "n_steps": 2}).json()
    assert after == before and after["settings"]["model"] == "nerlens/demo"


def test_eight_concurrent_requests_equal_sequential_ones(client):
    texts = [
        SEED_TEXT,
        "Angela Merkel met Joe Biden in Berlin.",
        "The United Nations meets in Geneva.",
        "Apple opened a store in Tokyo.",
    ]
    bodies = [
        {"text": text, "n_steps": steps, "targets": targets}
        for text in texts
        for steps, targets in ((2, "tokens"), (3, "entities"))
    ]
    sequential = [client.post("/api/explain", json=b).json() for b in bodies]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda b: client.post("/api/explain", json=b).json(), bodies))
    assert concurrent == sequential


def test_health_openapi_and_page(client):
    assert client.get("/healthz").json() == {"status": "ok", "model": "nerlens/demo"}
    schema = client.get("/openapi.json").json()
    body = schema["components"]["schemas"]["ExplainRequest"]
    assert body["additionalProperties"] is False
    assert body["properties"]["text"]["maxLength"] == 300
    page = client.get("/").text
    assert "<textarea" in page and ">Explain</button>" in page
    assert not re.search(r"https?://|\bsrc=", page)


def test_gold_in_a_request_gives_verdicts_and_the_page_the_library_defaults(client):
    from nerlens.methods import DEFAULT_METHOD, DEFAULT_N_STEPS

    body = {"text": SEED_TEXT, "targets": "entities", "n_steps": 2}
    gold = [{"start": 11, "end": 16, "label": "LOC"}, {"start": 36, "end": 51, "label": "ORG"}]
    result = client.post("/api/view", json=body | {"gold": gold}).json()
    assert result["explanation"]["correct"] == [True, False]  # Paris right, Macron wrong type
    assert result["view"]["gold"] == {"missed": [[36, 51, "ORG"]], "spurious": [1]}
    bad = client.post("/api/view", json=body | {"gold": [{"start": 0, "end": 99, "label": "X"}]})
    assert bad.status_code == 422 and "gold span (0, 99, 'X')" in bad.json()["error"]
    config = re.search(r"id='nl-config'>(.*?)</script>", client.get("/").text).group(1)
    defaults = {"method": DEFAULT_METHOD, "n_steps": DEFAULT_N_STEPS}
    assert json.loads(config)["defaults"] == defaults


def test_work_past_its_deadline_stops_and_frees_the_only_worker(demo):
    """With one worker, a request that needs minutes gets 503 after the timeout, and a small
    one sent right after is answered: the abandoned work stopped at its next pass."""
    model, tokenizer = demo
    settings = ServerSettings(workers=1, timeout_s=2.0, tokens_per_second=1e9)
    long_text = " ".join([SEED_TEXT] * 4)  # auto steps for ~50 token targets: minutes
    with TestClient(create_app(model, tokenizer, settings)) as client:
        start = time.monotonic()
        response = client.post("/api/explain", json={"text": long_text, "n_steps": "auto"})
        assert response.status_code == 503, response.text
        assert "took longer than 2 s and was stopped" in response.json()["error"]
        assert time.monotonic() - start < 4
        small = {
            "text": SEED_TEXT,
            "n_steps": 4,
            "targets": [target_to_dict(TokenTarget(3, "B-LOC"))],
        }
        response = client.post("/api/explain", json=small)
        assert response.status_code == 200, response.text


def test_a_request_that_cannot_finish_in_time_is_refused_before_any_work(demo):
    """The least cost of a request (rows x tokens, as its method counts rows) against the
    timeout at the server's speed (here set, not measured, so the test is exact)."""
    model, tokenizer = demo
    settings = ServerSettings(timeout_s=1.0, tokens_per_second=1000.0)
    with TestClient(create_app(model, tokenizer, settings)) as client:
        with count_passes() as passes:
            response = client.post("/api/explain", json={"text": SEED_TEXT, "n_steps": 20})
        assert response.status_code == 422
        # 12 token targets: 2 + 20 x (1 + 12) rows of 14 tokens (special ones included)
        assert response.json()["error"] == (
            "this request needs at least 3,668 token-rows of model passes, at least 3.7 s at this "
            "server's speed, more than its timeout of 1 s: use fewer steps, fewer targets or a "
            "shorter text"
        )
        assert passes.backward == 0
        one = {
            "text": SEED_TEXT,
            "n_steps": 2,
            "targets": [target_to_dict(TokenTarget(3, "B-LOC"))],
        }
        assert client.post("/api/explain", json=one).status_code == 200


@pytest.mark.parametrize("method", available_methods())
def test_each_methods_least_rows_are_at_most_the_rows_it_runs(demo, method):
    model, tokenizer = demo
    options = {"n_steps": 3} if method == "integrated_gradients" else {}
    explainer = Explainer(model, tokenizer, method, progress=False, **options)
    with count_passes() as passes:
        explanation = explainer(SEED_TEXT, "entities")
    tokens = sum(not s for s in explanation.special)
    least = explainer.method.pass_rows(tokens, len(explanation.targets))
    assert 0 < least <= passes.forward_rows + passes.backward_rows


def test_max_targets_bounds_entities_too(demo):
    model, tokenizer = demo
    with TestClient(create_app(model, tokenizer, ServerSettings(max_targets=2))) as client:
        body = {"text": "Angela Merkel met Joe Biden in Berlin.", "targets": "entities"}
        response = client.post("/api/explain", json={**body, "n_steps": 2})
    assert response.status_code == 422
    assert response.json()["error"] == (
        "the text has 3 predicted entities, so targets='entities' would explain 3 targets; this "
        "server explains at most 2 per request: send a shorter text or a list of targets"
    )


def test_a_full_queue_answers_429_at_once_and_waiting_counts_towards_the_timeout():
    pool = Pool(ServerSettings(workers=1, queue_size=1, timeout_s=0.3))
    gate = threading.Event()
    ran = []

    async def scenario() -> None:
        running = asyncio.ensure_future(pool.run(gate.wait))
        waiting = asyncio.ensure_future(pool.run(ran.append, "queued"))
        await asyncio.sleep(0.05)
        with pytest.raises(HTTPException) as busy:
            await pool.run(ran.append, "refused")
        assert busy.value.status_code == 429
        assert "2 requests are running or waiting" in busy.value.detail
        for task in (running, waiting):
            with pytest.raises(HTTPException) as late:
                await task
            assert late.value.status_code == 503
        gate.set()
        await asyncio.sleep(0.05)
        assert await pool.run(ran.append, "free again") is None

    asyncio.run(scenario())
    pool.executor.shutdown()
    assert ran == ["free again"]  # the abandoned queued request never ran


def test_serve_rejects_bad_limits_and_models_in_one_line():
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--model", "/nonexistent/model"])
    assert result.exit_code == 2 and result.stderr.startswith("error: no model directory")
    result = runner.invoke(app, ["serve", "--max-steps", "0"])
    assert result.exit_code == 2 and "--max-steps" in result.stderr
    result = runner.invoke(app, ["serve", "--max-body-bytes", "0"])
    assert result.exit_code == 2 and "--max-body-bytes" in result.stderr


def test_an_unknown_method_is_answered_with_the_registered_ones(client):
    error = client.post("/api/explain", json={"text": "hi", "method": "shap"}).json()["error"]
    assert error.startswith("method: Input should be ")
    assert all(f"'{name}'" in error for name in available_methods())
