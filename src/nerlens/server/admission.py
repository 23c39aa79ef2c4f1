"""What decides whether and how a request's work runs: the worker pool and its queue, the body
size limit, the step options a request gives, and the refusals of too many targets or too much
work for the timeout, made before any attribution."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nerlens.encoding import Encoding
from nerlens.errors import InputError, TextTooLongError
from nerlens.explainer import Explainer
from nerlens.methods import available_methods, get_method_class, method_options
from nerlens.model_input import expand_batch
from nerlens.models.base import ModelKind
from nerlens.runner import Cancellation, Cancelled, cancellable, release_free_memory
from nerlens.server.settings import ServerSettings


class Pool:
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
    """``function(*args)`` under ``cancellation``; then the worker's free heap pages go back to
    the system, so a long-running server's memory does not creep up with its requests."""
    try:
        with cancellable(cancellation):
            return function(*args)
    finally:
        release_free_memory()


class BodyLimit:
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


def measured_speed(kind: ModelKind, rows: int = 8, words: int = 60) -> float:
    """Token-rows per second of a forward pass without gradients, the best of three, on a text
    of up to ``words`` words (fewer where the model takes fewer) in the model's own input (a
    zero-shot model's with one label): faster than any attribution pass, so a cost divided by
    it is the least time a request can take."""
    if "labels" in kind.options and not kind.labels:
        kind = kind.configure(labels=("entity",))
    count = min(words, kind.word_limit or words)
    while True:
        try:
            encoding = kind.encode(" ".join(["a"] * count), kind.max_length)
            break
        except TextTooLongError:
            if count == 1:
                raise
            count //= 2  # "a" is more than one token here: fewer words fit
    inputs, _ = kind.path_ends(encoding, "word", kind.baseline_token(None))
    batch = expand_batch(inputs, rows)
    best = float("inf")
    with torch.no_grad():
        for _ in range(4):  # the first pass warms up
            start = time.perf_counter()
            kind.model(**batch)
            best = min(best, time.perf_counter() - start)
    return rows * len(encoding) / best


def takes_steps(method: str) -> bool:
    """Whether a registered method has an ``n_steps`` option (the page offers steps only then)."""
    return "n_steps" in method_options(get_method_class(method))


def step_options(method: str, n_steps: int | str | None, max_steps: int) -> dict[str, Any]:
    """The method options a request's ``n_steps`` gives. With ``"auto"``, given or the method's
    declared default, the operator's ``max_steps`` bounds the adaptive steps too, where the
    method has that option. ``n_steps`` for a method without steps is refused in the API's terms."""
    if n_steps is not None and not takes_steps(method):
        with_steps = [name for name in available_methods() if takes_steps(name)]
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


def target_count(explainer: Explainer, request: Any, document: Encoding, max_targets: int) -> int:
    """How many targets the request explains on its text's ``document``, refused over
    ``max_targets`` where a selector decides it: 'tokens' explains up to one target per token,
    so a text with more tokens is refused; where the count depends on the predictions
    (entities, or tokens with ignored labels), a forward pass tells."""
    targets = request.targets
    if not isinstance(targets, str):
        return len(targets)
    ignored_labels = getattr(request, "ignored_labels", ())  # only models with token targets
    if targets == "tokens":
        count = _text_tokens(document)
        if count > max_targets:
            raise InputError(
                f"the text has {count} tokens, so targets='tokens' would explain up to {count} "
                f"targets; this server explains at most {max_targets} per request: send a "
                "shorter text, targets='entities', or a list of targets"
            )
        if not ignored_labels:
            return count
    predicted = explainer(request.text, [])
    if targets == "tokens":
        ignored = set(ignored_labels)
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


def check_cost(
    explainer: Explainer, document: Encoding, targets: int, speed: float, timeout_s: float
) -> None:
    """Refuse, before any attribution, a request whose least cost (model rows × tokens per row,
    as the method counts its rows) takes longer than the timeout at the measured ``speed``.
    A row holds the model's whole input (a zero-shot model's label prompt too), at most one
    window's worth."""
    row = min(len(document), explainer.max_length)
    cost = explainer.method.pass_rows(_text_tokens(document), targets) * row
    if cost / speed > timeout_s:
        raise InputError(
            f"this request needs at least {cost:,} token-rows of model passes, at least "
            f"{cost / speed:,.1f} s at this server's speed, more than its timeout of "
            f"{timeout_s:g} s: use fewer steps, fewer targets or a shorter text"
        )


def _text_tokens(document: Encoding) -> int:
    """The tokens a method may perturb: every token but the special ones."""
    return sum(not special for special in document.special)
