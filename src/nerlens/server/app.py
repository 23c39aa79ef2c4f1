"""The web app behind ``nerlens serve``: a page with the interactive view, and a JSON API.

The model is the one the operator passed to :func:`create_app`; no request field can choose,
load or read anything else (unknown fields are rejected). A body over ``max_body_bytes`` gets 413
before it is read whole; a request whose least cost (model rows × tokens, as its method counts
them) cannot run within the timeout at this server's measured speed gets 422 before any
attribution. Work runs in a small thread pool behind a bounded queue: a request that finds the
queue full gets 429 at once, and one that runs longer than the timeout gets 503 and is stopped at
its next model pass, so its worker is free again. Concurrent requests share the model safely
(see :mod:`nerlens.runner`) and give the results they give one at a time. Errors never echo
the request's input back.

(No ``from __future__ import annotations`` here: FastAPI reads the request model, a class built
per app, from the handlers' annotations at run time.)
"""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from nerlens.entities import STRATEGIES
from nerlens.errors import InputError, unconverged
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
from nerlens.runner import Cancellation, Cancelled, cancellable
from nerlens.targets import ContrastTarget, EntityTarget, Target, TokenTarget

STEP_CHOICES = (4, 8, 16, 32, 50, 100, 200, 500, 1000)
MAX_ERROR_CHARS = 1000  # an error message is about the request, never a copy of it


@dataclass(frozen=True)
class ServerSettings:
    """What the operator allows: body and text size, steps, targets, and how much work may
    wait (and for how long)."""

    max_text_chars: int = 5000
    max_steps: int = 200
    max_targets: int = 512
    workers: int = 1
    queue_size: int = 8
    timeout_s: float = 120.0
    long_text: Literal["error", "window"] = "window"
    max_body_bytes: int = 1_000_000
    # model token-rows per second that the cost check assumes; None: measured at start
    tokens_per_second: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_text_chars", "max_steps", "max_targets", "workers", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.tokens_per_second is not None and not self.tokens_per_second > 0:
            raise InputError(f"tokens_per_second must be > 0, got {self.tokens_per_second!r}")
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
        """``function(*args)`` on a worker: 429 at once when full, 503 after the timeout.

        The timeout counts from admission, waiting included. Work still running then is
        cancelled (:class:`~nerlens.runner.Cancellation`): it stops at its next model pass, and
        its worker takes the next request."""
        if not self.slots.acquire(blocking=False):
            raise HTTPException(
                429,
                f"the server is busy: {self.capacity} requests are running or waiting; "
                "try again in a moment",
            )
        cancellation = Cancellation(self.timeout_s)
        future = self.executor.submit(_cancellable_call, cancellation, function, *args)
        future.add_done_callback(lambda _: self.slots.release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except (asyncio.TimeoutError, Cancelled):  # not the builtin TimeoutError before 3.11
            cancellation.cancel()
            future.cancel()  # frees the slot at once if the work has not started yet
            raise HTTPException(
                503,
                f"the explanation took longer than {self.timeout_s:g} s and was stopped; "
                "use fewer steps, fewer targets or a shorter text",
            ) from None
        except asyncio.CancelledError:  # the client went away, or the server is stopping
            cancellation.cancel()
            future.cancel()
            raise


def _cancellable_call(cancellation: Cancellation, function: Any, *args: Any) -> Any:
    with cancellable(cancellation):
        return function(*args)


class _BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 before it is read whole
    (by its Content-Length, or as its chunks arrive); a smaller one is passed on as it came."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        chunks: list[Message] = []
        size, more = 0, True
        while more:
            message = await receive()
            chunks.append(message)
            size += len(message.get("body", b""))
            more = message["type"] == "http.request" and message.get("more_body", False)
            if size > self.limit:
                await self._refuse(send)
                return

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        limit = f"{self.limit:,}"
        response = JSONResponse(
            {"error": f"the request body is larger than this server's limit of {limit} bytes"},
            status_code=413,
        )
        await response({"type": "http"}, _nothing, send)


async def _nothing() -> Message:  # pragma: no cover - a JSONResponse never reads its request
    return {"type": "http.disconnect"}


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
    speed = settings.tokens_per_second or measured_speed(model)

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
    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes)

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
        count = _target_count(explainer, request, settings.max_targets)
        _check_cost(explainer, request.text, count, speed, settings.timeout_s)
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
        """Explain a text; the result is ``Explanation.to_dict()`` (load it with from_dict) and
        ``warnings``: what the library would warn about (e.g. unconverged scores)."""
        return await run(request, _with_warnings)

    @app.post("/api/view")
    async def api_view(request: ExplainRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        """Explain a text; the result, the interactive view's data (what the page shows) and
        ``warnings``."""
        return await run(request, _with_view)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": _short(_describe(error.errors())), "detail": _details(error.errors())},
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def refused(_: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": _short(str(error.detail))}, status_code=error.status_code)

    @app.exception_handler(Exception)
    async def failed(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            {"error": f"internal error ({type(error).__name__}); the server log has the details"},
            status_code=500,
        )

    return app


def measured_speed(model: PreTrainedModel, rows: int = 8, tokens: int = 64) -> float:
    """Token-rows per second of a forward pass without gradients, the best of three: faster than
    any attribution pass, so a cost divided by it is the least time a request can take."""
    length = min(tokens, int(getattr(model.config, "max_position_embeddings", tokens)) - 2)
    device = next(model.parameters()).device
    ids = torch.ones((rows, max(length, 1)), dtype=torch.long, device=device)
    best = float("inf")
    with torch.no_grad():
        for _ in range(4):  # the first pass warms up
            start = time.perf_counter()
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
            best = min(best, time.perf_counter() - start)
    return ids.numel() / best


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


def _takes_steps(method: str) -> bool:
    """Whether a registered method has an ``n_steps`` option (the page offers steps only then)."""
    return "n_steps" in method_options(get_method_class(method))


def _step_options(method: str, n_steps: int | str | None, max_steps: int) -> dict[str, Any]:
    """The method options a request's ``n_steps`` gives. With ``"auto"``, given or the method's
    declared default, the operator's ``max_steps`` bounds the adaptive steps too, where the
    method has that option. ``n_steps`` for a method without steps is refused in the API's terms."""
    if n_steps is not None and not _takes_steps(method):
        with_steps = [name for name in available_methods() if _takes_steps(name)]
        raise InputError(
            f"n_steps does not apply to method {method!r}; leave it out, or choose a method "
            f"that takes steps: {with_steps}"
        )
    declared = method_options(get_method_class(method))
    options = {} if n_steps is None else {"n_steps": n_steps}
    steps = declared.get("n_steps") if n_steps is None else n_steps  # None: the method's default
    if steps == "auto" and "max_steps" in declared:
        options["max_steps"] = max_steps
    return options


def _check_target_count(
    tokenizer: PreTrainedTokenizerBase, text: str, selector: str, max_targets: int
) -> None:
    """'tokens' explains up to one target per token: refuse texts that would exceed the bound."""
    if selector != "tokens":
        return
    count = _token_count(tokenizer, text)
    if count > max_targets:
        raise InputError(
            f"the text has {count} tokens, so targets='tokens' would explain up to {count} "
            f"targets; this server explains at most {max_targets} per request: send a shorter "
            "text, targets='entities', or a list of targets"
        )


def _target_count(explainer: Explainer, request: Any, max_targets: int) -> int:
    """How many targets the request explains; where that depends on the predictions (entities,
    or tokens with ignored labels), a forward pass tells, and entities over ``max_targets`` are
    refused."""
    targets = request.targets
    if not isinstance(targets, str):
        return len(targets)
    if targets == "tokens" and not request.ignored_labels:
        return _token_count(explainer.tokenizer, request.text)
    predicted = explainer(request.text, [])
    if targets == "tokens":
        ignored = set(request.ignored_labels)
        labels = zip(predicted.predicted_labels, predicted.special)
        return sum(label not in ignored and not special for label, special in labels)
    count = len(predicted.entities)
    if count > max_targets:
        raise InputError(
            f"the text has {count} predicted entities, so targets='entities' would explain "
            f"{count} targets; this server explains at most {max_targets} per request: send a "
            "shorter text or a list of targets"
        )
    return count


def _check_cost(
    explainer: Explainer, text: str, targets: int, speed: float, timeout_s: float
) -> None:
    """Refuse, before any attribution, a request whose least cost (model rows × tokens per row,
    as the method counts its rows) takes longer than the timeout at the measured ``speed``."""
    tokens = _token_count(explainer.tokenizer, text)
    row = min(len(explainer.tokenizer(text)["input_ids"]), explainer.max_length)
    cost = explainer.method.pass_rows(tokens, targets) * row
    if cost / speed > timeout_s:
        raise InputError(
            f"this request needs at least {cost:,} token-rows of model passes, at least "
            f"{cost / speed:,.1f} s at this server's speed, more than its timeout of "
            f"{timeout_s:g} s: use fewer steps, fewer targets or a shorter text"
        )


def _token_count(tokenizer: PreTrainedTokenizerBase, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


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
        if error.get("type") == "string_unicode":  # JSON allows lone surrogates ("\udce9")
            message = "is not Unicode text (it holds a lone surrogate); send valid UTF-8 text"
        else:
            message = error.get("msg", "invalid")
        problems.setdefault(where, []).append(message)
    return "; ".join(
        f"{where}: {' or '.join(messages)}" if where else " or ".join(messages)
        for where, messages in problems.items()
    )


def _is_branch_name(part: object) -> bool:
    """Pydantic names union branches in locations: ``literal['auto']``, ``constrained-int``."""
    return isinstance(part, str) and ("[" in part or "-" in part)


def _details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without the input they were about (never echoed back)."""
    return [
        {
            "type": str(error.get("type")),
            "loc": list(error.get("loc", ())),
            "msg": _short(str(error.get("msg", ""))),
        }
        for error in errors
    ]


def _short(message: str) -> str:
    """An error message cut to :data:`MAX_ERROR_CHARS` characters."""
    if len(message) <= MAX_ERROR_CHARS:
        return message
    return message[: MAX_ERROR_CHARS - 1] + "…"


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
