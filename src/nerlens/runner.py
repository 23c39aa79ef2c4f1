"""Run one model from many threads at once without any call changing shared model state.

A method needs the model in evaluation mode, its weights frozen (gradients w.r.t. inputs only),
and the attributed layer's output captured or replaced. Doing that per call with hooks and flag
flips is not thread-safe: the last hook registered wins, and a finishing call can unfreeze the
model under another. Here one :class:`ModelGuard` per model owns that state:

- while at least one call is running, the model is in eval mode with frozen weights and one
  permanent forward hook sits on each attributed layer; the first call to enter sets this up and
  the last to leave restores the model exactly as the user left it (even when a call raised);
- the hook does nothing unless the *calling thread's* context (a :class:`~contextvars.ContextVar`)
  asks it to capture or replace that layer's output, so concurrent calls never see each other.

A user who trains or modifies the same model in another thread while an explanation runs will see
it in eval mode with frozen weights for that time; that is the documented price of sharing.

Three more per-call concerns live here for the same reason: :func:`intra_op_threads` (torch's
thread count, set for the calling thread only), :func:`count_passes` (each call counts its own
forward and backward passes, for benchmarks and tests) and :func:`cancellable` (a call that
another thread gave up on stops at its next pass).

On CPU, :func:`run_concurrently` runs a call's independent model work (the backward passes of
a chunk's targets, the windows of a long text, the texts of a batch) on several threads at
once, each with torch single-threaded: many small passes then keep every core busy instead of
making torch's intra-op threads wait for each other at every operation, which measured 8-40%
faster idle on 2 cores and holds up far better beside a busy process (docs/benchmarks.md).
Each job computes what it computes alone, up to the last bits: on the Intel CPU tested,
torch gave bit-identical results with 1 or 2 threads for the same batch (and with 1 thread
whatever the chunking); other CPUs' kernels differ in the last bits (an AMD EPYC: up to 7e-9),
so results agree across worker counts within a tolerance, and every call stays deterministic
for its configuration (same machine, same threads, same numbers).
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar, copy_context
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar, cast

import torch
from torch import nn


@dataclass
class _LayerRequest:
    """What the calling thread wants from ``layer`` during its next forward pass."""

    layer: nn.Module
    replacement: torch.Tensor | None = None
    captured: list[torch.Tensor] = field(default_factory=list)


_REQUEST: ContextVar[_LayerRequest | None] = ContextVar("nerlens_layer_request", default=None)


@dataclass
class PassCount:
    """Model passes made by one thread: how many, and how many path rows they carried.

    ``backward_rows`` counts each row once per target it was differentiated for, so a batched
    backward over ``k`` targets adds ``k`` times its rows, like ``k`` separate passes would.
    """

    forward: int = 0
    backward: int = 0
    forward_rows: int = 0
    backward_rows: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "forward": self.forward,
            "backward": self.backward,
            "forward_rows": self.forward_rows,
            "backward_rows": self.backward_rows,
        }


_COUNT: ContextVar[PassCount | None] = ContextVar("nerlens_pass_count", default=None)
_COUNT_LOCK = threading.Lock()  # a call's workers add to its count from their own threads


@contextmanager
def count_passes() -> Iterator[PassCount]:
    """Count the model passes this thread makes inside the block, its workers' included (other
    threads' calls are not seen)."""
    count = PassCount()
    token = _COUNT.set(count)
    try:
        yield count
    finally:
        _COUNT.reset(token)


def note_backward(rows: int, targets: int = 1) -> None:
    """Record one backward pass over ``rows`` path rows for ``targets`` targets at once (and
    stop here if the call was cancelled: see :func:`cancellable`)."""
    check_cancelled()
    count = _COUNT.get()
    if count is not None:
        with _COUNT_LOCK:
            count.backward += 1
            count.backward_rows += rows * targets


def _note_forward(rows: int) -> None:
    check_cancelled()
    count = _COUNT.get()
    if count is not None:
        with _COUNT_LOCK:
            count.forward += 1
            count.forward_rows += rows


# ---------------------------------------------------------------------- cancellation
class Cancelled(Exception):
    """The call was cancelled, or ran past its deadline; raised at its next model pass."""


class Cancellation:
    """A flag another thread raises to stop a call, and an optional deadline that raises it.

    The call checks it before every forward pass and after every backward pass (see
    :func:`cancellable`), so work given up on ends within one pass and frees its thread.
    """

    def __init__(self, timeout_s: float | None = None) -> None:
        self._event = threading.Event()
        self._deadline = None if timeout_s is None else time.monotonic() + timeout_s

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._event.set()
        return self._event.is_set()


_CANCELLATION: ContextVar[Cancellation | None] = ContextVar("nerlens_cancel", default=None)


@contextmanager
def cancellable(cancellation: Cancellation) -> Iterator[None]:
    """Model passes made inside the block (its workers' included) raise :class:`Cancelled`
    once ``cancellation`` is cancelled or past its deadline."""
    token = _CANCELLATION.set(cancellation)
    try:
        yield
    finally:
        _CANCELLATION.reset(token)


def check_cancelled() -> None:
    """Raise :class:`Cancelled` if this call's :class:`Cancellation` says stop."""
    cancellation = _CANCELLATION.get()
    if cancellation is not None and cancellation.cancelled:
        raise Cancelled("the call was cancelled")


@contextmanager
def _thread_count(threads: int) -> Iterator[None]:
    """This thread's torch intra-op count set to ``threads`` for the block, then restored.

    The count is the calling thread's own (OpenMP and MKL keep one per thread), so concurrent
    calls each get what they asked for. torch also takes the last count set anywhere as the
    start value of threads that have not used it yet; restoring it here puts that back too."""
    before = torch.get_num_threads()  # also initialises this thread's setting on first use
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def intra_op_threads(threads: int | None) -> AbstractContextManager[None]:
    """Run the block with torch using ``threads`` intra-op threads in this thread (None: leave
    it as it is); other threads keep their own.

    Inside a :func:`run_concurrently` worker torch stays single-threaded whatever is asked."""
    return nullcontext() if threads is None or _IN_WORKER.get() else _thread_count(threads)


# ---------------------------------------------------------------------- concurrent work
_IN_WORKER: ContextVar[bool] = ContextVar("nerlens_in_worker", default=False)
_SHARE: ContextVar[int] = ContextVar("nerlens_memory_share", default=1)
Result = TypeVar("Result")


def workers_for(device: torch.device) -> int:
    """How many single-threaded workers a call's independent passes may use: torch's intra-op
    thread count on CPU (so ``threads=`` bounds both); 1 inside a worker (no nesting) and on
    accelerators, whose kernels run in one queue anyway."""
    if device.type != "cpu" or _IN_WORKER.get():
        return 1
    return torch.get_num_threads()


def memory_share() -> int:
    """How many jobs share the memory budget right now (a worker's job gets 1/share of it)."""
    return _SHARE.get()


def run_concurrently(jobs: Sequence[Callable[[], Result]], workers: int) -> list[Result]:
    """Every job's result, in order; up to ``workers`` jobs run at once, torch single-threaded.

    Jobs must be independent model work (they may share a model and a retained autograd
    graph). Each runs in a copy of the caller's context, so pass counts and layer requests
    follow it, and nested calls inside a job run sequentially. The first failing job's
    exception (in job order) is raised once every running job has ended; so is a Ctrl-C.
    """
    workers = min(workers, len(jobs))
    if workers <= 1:
        return [job() for job in jobs]
    context = copy_context()
    results: list[Result | None] = [None] * len(jobs)
    errors: list[tuple[int, BaseException]] = []
    next_index = itertools.count()
    stop = threading.Event()
    ready = threading.Barrier(workers + 1)

    def as_worker(job: Callable[[], Result]) -> Result:
        _IN_WORKER.set(True)
        _SHARE.set(workers)
        return job()

    def work() -> None:
        torch.get_num_threads()  # torch initialises a thread's setting on first use: do it first
        torch.set_num_threads(1)  # this thread's own setting (OpenMP and MKL keep one per thread)
        try:
            ready.wait()
        except threading.BrokenBarrierError:  # the caller was interrupted before any job began
            return
        for index in next_index:
            if index >= len(jobs) or stop.is_set():
                return
            try:
                results[index] = context.copy().run(as_worker, jobs[index])
            except BaseException as error:  # re-raised in the caller's thread
                errors.append((index, error))
                stop.set()
                return

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    try:  # a Ctrl-C anywhere from here on ends the workers before it goes up
        ready.wait()
        # the workers' set_num_threads changed torch's default for later threads: the caller's
        torch.set_num_threads(torch.get_num_threads())
        for thread in threads:
            thread.join()
    except BaseException:
        stop.set()
        ready.abort()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise min(errors, key=lambda error: error[0])[1]
    return cast(list[Result], results)  # every job ran


def _layer_hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor | None:
    request = _REQUEST.get()
    if request is None or request.layer is not module:
        return None  # another thread's call, or a plain forward: leave the output alone
    if request.replacement is not None:
        return request.replacement
    request.captured.append(output)
    return None


class ModelGuard:
    """Owns the eval mode, frozen weights and layer hooks of one model for all concurrent calls."""

    def __init__(self, model: nn.Module) -> None:
        self._model = weakref.ref(model)
        self._lock = threading.Lock()
        self._active = 0
        self._training: list[tuple[nn.Module, bool]] = []
        self._requires_grad: list[tuple[nn.Parameter, bool]] = []
        self._hooks: dict[int, torch.utils.hooks.RemovableHandle] = {}

    @contextmanager
    def session(self, layer: nn.Module) -> Iterator[None]:
        """Hold the model ready for attribution on ``layer`` for the duration of one call."""
        model = self._model()
        if model is None:  # pragma: no cover - the caller holds a reference to the model
            raise RuntimeError("the model was garbage-collected")
        with self._lock:
            if self._active == 0:
                self._training = [(module, module.training) for module in model.modules()]
                self._requires_grad = [(p, p.requires_grad) for p in model.parameters()]
                model.eval()
                for parameter, _ in self._requires_grad:
                    parameter.requires_grad_(False)
            if id(layer) not in self._hooks:
                self._hooks[id(layer)] = layer.register_forward_hook(_layer_hook)
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    for handle in self._hooks.values():
                        handle.remove()
                    self._hooks.clear()
                    for parameter, flag in self._requires_grad:
                        parameter.requires_grad_(flag)
                    self._requires_grad = []
                    for module, training in self._training:  # per module: modes may be mixed
                        module.training = training
                    self._training = []


_GUARDS: weakref.WeakKeyDictionary[nn.Module, ModelGuard] = weakref.WeakKeyDictionary()
_GUARDS_LOCK = threading.Lock()


def guard_for(model: nn.Module) -> ModelGuard:
    """The one guard of ``model``, shared by every Explainer built on it."""
    with _GUARDS_LOCK:
        if model not in _GUARDS:
            _GUARDS[model] = ModelGuard(model)
        return _GUARDS[model]


@dataclass(frozen=True)
class ModelRunner:
    """Forward passes of ``model`` that capture or replace ``layer``'s output, per thread.

    Use inside :meth:`session`; outside it the layer has no hook and nothing is captured.
    """

    model: nn.Module
    layer: nn.Module

    @contextmanager
    def session(self) -> Iterator[None]:
        """Eval mode, frozen weights and the layer hook, shared with concurrent calls."""
        with guard_for(self.model).session(self.layer):
            yield

    def capture(self, kwargs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's output and the model's logits for ``kwargs`` (no gradients)."""
        request = _LayerRequest(self.layer)
        _note_forward(len(kwargs["input_ids"]))
        token = _REQUEST.set(request)
        try:
            with torch.no_grad():
                logits = self.model(**kwargs).logits
        finally:
            _REQUEST.reset(token)
        if not request.captured:
            raise RuntimeError(
                f"the attributed layer {type(self.layer).__name__} did not run in the forward pass"
            )
        return request.captured[0], logits

    def forward(
        self, kwargs: dict[str, torch.Tensor], layer_output: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The model's logits for ``kwargs``, with the layer's output replaced if one is given.

        Gradients flow to ``layer_output`` when it requires them (grad mode is the caller's).
        """
        _note_forward(len(kwargs["input_ids"]))
        token = _REQUEST.set(_LayerRequest(self.layer, replacement=layer_output))
        try:
            return self.model(**kwargs).logits
        finally:
            _REQUEST.reset(token)


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc only; elsewhere nothing).

    Worker threads allocate from their own malloc arenas, and a shard's short-lived tensors of
    many sizes leave them fragmented: without this, peak memory crept up with corpus size (and
    with a server's requests).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from the running process, looked up once; None elsewhere."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc: its allocator manages this itself
