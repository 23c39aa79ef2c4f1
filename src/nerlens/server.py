"""The web app behind ``nerlens serve``: a page with the interactive view, and a JSON API.

The model is the one the operator passed to :func:`create_app`; no request field can choose,
load or read anything else (unknown fields are rejected). Work runs in a small thread pool behind
a bounded queue: a request that finds the queue full gets 429 at once, and one that runs longer
than the timeout gets 503; nothing is left hanging. Concurrent requests share the model safely
(see :mod:`nerlens.runner`) and give exactly the results they give one at a time.

(No ``from __future__ import annotations`` here: FastAPI reads the request model, a class built
per app, from the handlers' annotations at run time.)
"""

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.exceptions import HTTPException
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from nerlens.entities import STRATEGIES
from nerlens.errors import InputError
from nerlens.explainer import Explainer
from nerlens.explanation import Explanation
from nerlens.gold import GoldSpan
from nerlens.methods import (
    DEFAULT_METHOD,
    DEFAULT_N_STEPS,
    available_methods,
    get_method_class,
    method_options,
)
from nerlens.render.interactive import asset, component, script_json, standalone_page, view_payload
from nerlens.targets import ContrastTarget, EntityTarget, Target, TokenTarget

STEP_CHOICES = (4, 8, 16, 32, 50, 100, 200, 500, 1000)


@dataclass(frozen=True)
class ServerSettings:
    """What the operator allows: text size, steps, targets, and how much work may wait."""

    max_text_chars: int = 5000
    max_steps: int = 200
    max_targets: int = 512
    workers: int = 1
    queue_size: int = 8
    timeout_s: float = 120.0
    long_text: Literal["error", "window"] = "window"

    def __post_init__(self) -> None:
        for name in ("max_text_chars", "max_steps", "max_targets", "workers"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.queue_size < 0 or not self.timeout_s > 0:
            raise InputError(
                f"queue_size must be >= 0 and timeout_s > 0, got {self.queue_size!r} and "
                f"{self.timeout_s!r}"
            )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenTargetIn(_Strict):
    kind: Literal["token"]
    position: Annotated[StrictInt, Field(ge=0)]
    label: StrictStr


class EntityTargetIn(_Strict):
    kind: Literal["entity"]
    start: Annotated[StrictInt, Field(ge=0)]
    end: Annotated[StrictInt, Field(ge=1)]
    label: StrictStr
    labels: list[StrictStr]


class ContrastTargetIn(_Strict):
    kind: Literal["contrast"]
    position: Annotated[StrictInt, Field(ge=0)]
    label: StrictStr
    foil: StrictStr


class GoldIn(_Strict):
    """A true entity: the characters ``text[start:end]`` are an entity of type ``label``."""

    start: Annotated[StrictInt, Field(ge=0)]
    end: Annotated[StrictInt, Field(ge=1)]
    label: StrictStr


TargetIn = Annotated[TokenTargetIn | EntityTargetIn | ContrastTargetIn, Field(discriminator="kind")]


def request_model(settings: ServerSettings, labels: Sequence[str]) -> type[BaseModel]:
    """The body of ``POST /api/explain`` with this server's bounds (shown in the OpenAPI schema)."""
    methods = tuple(available_methods())
    label_choices = tuple(labels)

    class ExplainRequest(_Strict):
        text: Annotated[StrictStr, Field(min_length=1, max_length=settings.max_text_chars)]
        method: Literal[methods] = DEFAULT_METHOD  # type: ignore[valid-type]
        targets: (
            Literal["tokens", "entities"]
            | Annotated[list[TargetIn], Field(min_length=1, max_length=settings.max_targets)]
        ) = "tokens"
        n_steps: (
            Literal["auto"] | Annotated[StrictInt, Field(ge=1, le=settings.max_steps)] | None
        ) = None
        ignored_labels: list[Literal[label_choices]] = Field(  # type: ignore[valid-type]
            default_factory=list, max_length=len(label_choices)
        )
        aggregation_strategy: Literal[STRATEGIES] = "simple"  # type: ignore[valid-type]
        gold: Annotated[list[GoldIn], Field(max_length=settings.max_targets)] | None = None

    return ExplainRequest


def _target(spec: BaseModel) -> Target:
    data = spec.model_dump()
    kind = data.pop("kind")
    if kind == "entity":
        data["labels"] = tuple(data["labels"])
        return EntityTarget(**data)
    return TokenTarget(**data) if kind == "token" else ContrastTarget(**data)


class _Pool:
    """A thread pool that admits at most ``workers + queue_size`` requests at a time."""

    def __init__(self, settings: ServerSettings) -> None:
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="nerlens")
        self.slots = threading.BoundedSemaphore(settings.workers + settings.queue_size)
        self.capacity = settings.workers + settings.queue_size
        self.timeout_s = settings.timeout_s

    async def run(self, function: Any, *args: Any) -> Any:
        """``function(*args)`` on a worker: 429 at once when full, 503 after the timeout."""
        if not self.slots.acquire(blocking=False):
            raise HTTPException(
                429,
                f"the server is busy: {self.capacity} requests are running or waiting; "
                "try again in a moment",
            )
        future = self.executor.submit(function, *args)
        future.add_done_callback(lambda _: self.slots.release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            future.cancel()  # frees the slot at once if the work has not started yet
            raise HTTPException(
                503,
                f"the explanation took longer than {self.timeout_s:g} s and was abandoned; "
                "use fewer steps, fewer targets or a shorter text",
            ) from None


def create_app(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    settings: ServerSettings | None = None,
) -> FastAPI:
    """The FastAPI app serving ``model``: ``GET /``, ``POST /api/explain``, ``GET /healthz``."""
    settings = settings or ServerSettings()
    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    model_name = str(getattr(model.config, "_name_or_path", "") or "model")
    ExplainRequest = request_model(settings, labels)
    pool = _Pool(settings)

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

    def explain(request: Any) -> Explanation:
        options = _step_options(request.method, request.n_steps, settings.max_steps)
        explainer = Explainer(
            model,
            tokenizer,
            request.method,
            long_text=settings.long_text,
            progress=False,
            aggregation_strategy=request.aggregation_strategy,
            **options,
        )
        targets = request.targets
        if isinstance(targets, str):
            _check_target_count(tokenizer, request.text, targets, settings.max_targets)
        else:
            targets = [_target(t) for t in targets]
        gold = None if request.gold is None else [GoldSpan(**g.model_dump()) for g in request.gold]
        return explainer(request.text, targets, ignored_labels=request.ignored_labels, gold=gold)

    async def run(request: Any, respond: Callable[[Explanation], dict[str, Any]]) -> Any:
        """Explain and build the response in the pool, so the event loop never computes."""
        try:
            return await pool.run(lambda: respond(explain(request)))
        except InputError as error:
            raise HTTPException(422, str(error)) from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        config = {
            "model": model_name,
            "methods": available_methods(),
            "stepMethods": [m for m in available_methods() if _takes_steps(m)],
            "steps": [s for s in STEP_CHOICES if s <= settings.max_steps],
            "maxChars": settings.max_text_chars,
            "defaults": {"method": DEFAULT_METHOD, "n_steps": DEFAULT_N_STEPS},
        }
        return web_page(config)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "model": model_name}

    @app.post("/api/explain")
    async def api_explain(request: ExplainRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        """Explain a text; the result is ``Explanation.to_dict()`` (load it with from_dict)."""
        return await run(request, Explanation.to_dict)

    @app.post("/api/view")
    async def api_view(request: ExplainRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        """Explain a text; the result and the interactive view's data (what the page shows)."""
        return await run(request, _with_view)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": _describe(error.errors()), "detail": _jsonable(error.errors())},
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def refused(_: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)

    return app


def _with_view(explanation: Explanation) -> dict[str, Any]:
    return {"explanation": explanation.to_dict(), "view": view_payload(explanation)}


def _takes_steps(method: str) -> bool:
    """Whether a registered method has an ``n_steps`` option (the page offers steps only then)."""
    return "n_steps" in method_options(get_method_class(method))


def _step_options(method: str, n_steps: int | str | None, max_steps: int) -> dict[str, Any]:
    """The method options a request's ``n_steps`` gives. With ``"auto"`` the operator's
    ``max_steps`` bounds the adaptive steps too, where the method has that option (elsewhere
    the method's own error names only what the request gave)."""
    if n_steps is None:
        return {}
    if n_steps == "auto" and "max_steps" in method_options(get_method_class(method)):
        return {"n_steps": n_steps, "max_steps": max_steps}
    return {"n_steps": n_steps}


def _check_target_count(
    tokenizer: PreTrainedTokenizerBase, text: str, selector: str, max_targets: int
) -> None:
    """'tokens' explains up to one target per token: refuse texts that would exceed the bound."""
    if selector != "tokens":
        return
    count = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    if count > max_targets:
        raise InputError(
            f"the text has {count} tokens, so targets='tokens' would explain up to {count} "
            f"targets; this server explains at most {max_targets} per request: send a shorter "
            "text, targets='entities', or a list of targets"
        )


def _describe(errors: Sequence[Any]) -> str:
    """One clause per field: where it is in the body, and what is wrong (union branches or'ed)."""
    problems: dict[str, list[str]] = {}
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", error.get("msg"))
            problems.setdefault("", []).append(f"malformed JSON: {reason}")
            continue
        where = ".".join(
            str(part)
            for part in error.get("loc", ())
            if part != "body" and not _is_branch_name(part)
        )
        problems.setdefault(where, []).append(error.get("msg", "invalid"))
    return "; ".join(
        f"{where}: {' or '.join(messages)}" if where else " or ".join(messages)
        for where, messages in problems.items()
    )


def _is_branch_name(part: object) -> bool:
    """Pydantic names union branches in locations: ``literal['auto']``, ``constrained-int``."""
    return isinstance(part, str) and ("[" in part or "-" in part)


def _jsonable(errors: Sequence[Any]) -> Any:
    return json.loads(json.dumps(list(errors), default=str))


def _version() -> str:
    from nerlens import __version__

    return __version__


def web_page(config: dict[str, Any]) -> str:
    """The app's page: the form, and an empty interactive view filled after each request."""
    body = (
        "<main class='nl-app'><h1>nerlens</h1>"
        "<p class='nl-sub'>Why did <b class='nl-model'></b> label each token as it did?</p>"
        "<label for='nl-input'>Text</label>"
        "<textarea id='nl-input' name='text' rows='4' placeholder='Type or paste a text'>"
        "</textarea>"
        "<div class='nl-form'>"
        "<label>Method <select id='nl-method'></select></label>"
        "<label title='Without predicted entities, every token is explained'>Targets "
        "<select id='nl-targets'><option value='entities' selected>entities</option>"
        "<option value='tokens'>every token</option></select></label>"
        "<label>Steps <select id='nl-steps'></select></label>"
        "<label><input type='checkbox' id='nl-skip-o'> skip tokens labelled O</label>"
        "<label title='True entities as START:END:TYPE character spans, e.g. 11:16:LOC'>Gold "
        "<input id='nl-gold' size='22' placeholder='START:END:TYPE, ...'></label>"
        "<button type='button' id='nl-explain'>Explain</button></div>"
        "<div id='nl-status' role='status' aria-live='polite'></div>"
        f"<div id='nl-result'>{component(None)}</div></main>"
        f"<script type='application/json' id='nl-config'>{script_json(config)}</script>"
        f"<style>{asset('webapp.css')}</style><script>{asset('webapp.js')}</script>"
    )
    return standalone_page("nerlens", body)
