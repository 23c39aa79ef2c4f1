"""The FastAPI app: its routes, the answers they give, their errors' JSON, and the web page.

(No ``from __future__ import annotations`` here: FastAPI reads the request model, a class built
per app, from the handlers' annotations at run time.)
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from nerlens.errors import InputError, unconverged
from nerlens.explainer import Explainer
from nerlens.explanation import Explanation
from nerlens.gold import GoldSpan
from nerlens.methods import DEFAULT_METHOD, DEFAULT_N_STEPS, available_methods
from nerlens.models import kind_of
from nerlens.render.interactive import asset, component, script_json, standalone_page, view_payload
from nerlens.server.admission import (
    BodyLimit,
    Pool,
    check_cost,
    measured_speed,
    step_options,
    takes_steps,
    target_count,
)
from nerlens.server.schema import (
    describe,
    details,
    model_options,
    request_model,
    short,
    tag_model,
    to_target,
)
from nerlens.server.settings import ServerSettings

STEP_CHOICES = (4, 8, 16, 32, 50, 100, 200, 500, 1000)  # the page's steps menu


def create_app(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    settings: ServerSettings | None = None,
) -> FastAPI:
    """The FastAPI app serving ``model``: ``GET /``, ``POST /api/explain``, ``/api/view`` and
    ``/api/tag``, ``GET /healthz``. A zero-shot model (GLiNER) takes its labels (and decoding
    options) per request, as the model's kind declares them."""
    settings = settings or ServerSettings()
    kind = kind_of(model, tokenizer)
    model_name = kind.model_name or "model"
    ExplainRequest = request_model(settings, kind)
    TagRequest = tag_model(settings, kind)
    pool = Pool(settings)
    speed = settings.tokens_per_second or measured_speed(kind)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        pool.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        lifespan=lifespan,
        title="nerlens",
        summary=f"Why did {model_name} label each token as it did?",
        version=_version(),
    )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    def explainer_for(request: Any, method: str = DEFAULT_METHOD, **options: Any) -> Explainer:
        """An Explainer of the served model with the request's model and method options."""
        return Explainer(
            model,
            tokenizer,
            method,
            long_text=settings.long_text,
            progress=False,
            aggregation_strategy=request.aggregation_strategy,
            **model_options(request, kind),
            **options,
        )

    def explain(request: Any) -> Explanation:
        options = step_options(request.method, request.n_steps, settings.max_steps)
        explainer = explainer_for(request, request.method, **options)
        targets = request.targets
        if not isinstance(targets, str):
            targets = [to_target(t) for t in targets]
        document = explainer.kind.encode(request.text)
        count = target_count(explainer, request, document, settings.max_targets)
        check_cost(explainer, document, count, speed, settings.timeout_s)
        gold = None if request.gold is None else [GoldSpan(**g.model_dump()) for g in request.gold]
        ignored = getattr(request, "ignored_labels", ())  # only models with token targets
        return explainer(request.text, targets, ignored_labels=ignored, gold=gold)

    def tag(request: Any) -> dict[str, Any]:
        """The predicted entities alone (one forward pass per window, no attribution), each as
        the model's own library gives it."""
        explainer = explainer_for(request)
        predicted = explainer(request.text, [])
        return {"entities": [explainer.kind.entity_dict(e) for e in predicted.entities]}

    async def run(request: Any, respond: Callable[[Explanation], dict[str, Any]]) -> Any:
        """Explain and build the response in the pool, so the event loop never computes."""
        return await in_pool(lambda: respond(explain(request)))

    async def in_pool(work: Callable[[], Any]) -> Any:
        """``work()`` in the pool; the library's refusals of a request become 422."""
        try:
            return await pool.run(work)
        except InputError as error:
            raise HTTPException(422, str(error)) from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        config = {
            "model": model_name,
            "selectors": [s for s in kind.selectors if s != "gold"],
            "modelOptions": list(kind.options),
            "labels": list(kind.labels) if "labels" in kind.options else [],
            "maxLabels": settings.max_labels,
            "maxLabelChars": settings.max_label_chars,
            "methods": available_methods(),
            "stepMethods": [m for m in available_methods() if takes_steps(m)],
            "steps": [s for s in STEP_CHOICES if s <= settings.max_steps],
            "maxChars": settings.max_text_chars,
            "defaults": {
                "method": DEFAULT_METHOD,
                "n_steps": DEFAULT_N_STEPS,
                **{k: v for k, v in kind.settings().items() if k == "threshold"},
            },
        }
        return web_page(config)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "model": model_name}

    @app.post("/api/explain")
    async def api_explain(request: ExplainRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        """Explain a text; the result is ``Explanation.to_dict()`` (load it with from_dict) and
        ``warnings``: what the library would warn about (e.g. unconverged scores)."""
        return await run(request, _with_warnings)

    @app.post("/api/view")
    async def api_view(request: ExplainRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        """Explain a text; the result, the interactive view's data (what the page shows) and
        ``warnings``."""
        return await run(request, _with_view)

    @app.post("/api/tag")
    async def api_tag(request: TagRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        """The entities the model predicts, without attribution: ``entities``, each as the
        model's own library returns it (the token-classification pipeline's dicts, or GLiNER's
        ``predict_entities``)."""
        return await in_pool(lambda: tag(request))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": short(describe(error.errors())), "detail": details(error.errors())},
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def refused(_: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": short(str(error.detail))}, status_code=error.status_code)

    @app.exception_handler(Exception)
    async def failed(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            {"error": f"internal error ({type(error).__name__}); the server log has the details"},
            status_code=500,
        )

    return app


def _with_warnings(explanation: Explanation) -> dict[str, Any]:
    return {**explanation.to_dict(), "warnings": _warnings(explanation)}


def _with_view(explanation: Explanation) -> dict[str, Any]:
    """The page shows the view's ``warning`` line: there it is the answer's ``warnings``."""
    warnings = _warnings(explanation)
    view = {**view_payload(explanation), "warning": " ".join(warnings) or None}
    return {"explanation": explanation.to_dict(), "view": view, "warnings": warnings}


def _warnings(explanation: Explanation) -> list[str]:
    """What the library warns about for this result: unconverged scores. The result is checked,
    since ``warnings.catch_warnings`` is process-wide and cannot tell concurrent requests apart."""
    message = unconverged(explanation.deltas.tolist())
    return [] if message is None else [message]


def _version() -> str:
    from nerlens import __version__

    return __version__


def web_page(config: dict[str, Any]) -> str:
    """The app's page: the form, and an empty interactive view filled after each request. The
    form asks what the model takes: a zero-shot model's labels and threshold
    (``config["modelOptions"]``), the targets it has (``config["selectors"]``), and the
    skipping of O tokens only where there are token targets."""
    options = config.get("modelOptions", ())
    tokens = "tokens" in config.get("selectors", ("tokens",))
    labels = (
        "<label for='nl-labels'>Labels (entity types, comma-separated)</label>"
        "<input id='nl-labels' name='labels' placeholder='person, location, organization'>"
        if "labels" in options
        else ""
    )
    threshold = (
        "<label>Threshold <input type='number' id='nl-threshold' min='0' max='0.99' "
        "step='0.05'></label>"
        if "threshold" in options
        else ""
    )
    targets = (
        "<label title='Without predicted entities, every token is explained'>Targets "
        "<select id='nl-targets'><option value='entities' selected>entities</option>"
        "<option value='tokens'>every token</option></select></label>"
        if tokens
        else "<label>Targets <select id='nl-targets'><option value='entities' selected>"
        "entities</option></select></label>"
    )
    skip = "<label><input type='checkbox' id='nl-skip-o'> skip tokens labelled O</label>"
    body = (
        "<main class='nl-app'><h1>nerlens</h1>"
        "<p class='nl-sub'>Why did <b class='nl-model'></b> label each token as it did?</p>"
        "<label for='nl-input'>Text</label>"
        "<textarea id='nl-input' name='text' rows='4' placeholder='Type or paste a text'>"
        f"</textarea>{labels}"
        "<div class='nl-form'>"
        f"<label>Method <select id='nl-method'></select></label>{targets}"
        f"<label>Steps <select id='nl-steps'></select></label>{threshold}{skip if tokens else ''}"
        "<label title='True entities as START:END:TYPE character spans, e.g. 11:16:LOC'>Gold "
        "<input id='nl-gold' size='22' placeholder='START:END:TYPE, ...'></label>"
        "<button type='button' id='nl-explain'>Explain</button></div>"
        "<div id='nl-status' role='status' aria-live='polite'></div>"
        f"<div id='nl-result'>{component(None)}</div></main>"
        f"<script type='application/json' id='nl-config'>{script_json(config)}</script>"
        f"<style>{asset('webapp.css')}</style><script>{asset('webapp.js')}</script>"
    )
    return standalone_page("nerlens", body)
