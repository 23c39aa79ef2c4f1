"""A corpus job: plan the shards, claim the output directory, run the unfinished shards.

Both engines run :class:`ShardWorker` (one model per worker): it reads one shard of the input,
calls the pure per-document work on each record and writes the shard atomically.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import platform
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from nerlens.corpus import require
from nerlens.corpus.readers import Source, Span, file_hash
from nerlens.corpus.store import Store
from nerlens.corpus.work import TARGET_CHOICES, JobSettings, ShardRows, explain_records
from nerlens.errors import InputError, is_int_at_least
from nerlens.runner import intra_op_threads

# What must match to continue a job in an existing DIR. The input is known by its hash (its
# path may differ between runs); the engine and progress options do not change any row.
IDENTITY = ("job", "model_hash", "input_hash", "versions")
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class JobResult:
    """What a call to :func:`run_job` did."""

    shards: int
    already_done: int
    ran: int
    documents: int
    targets: int
    unconverged: int  # targets whose |convergence delta| is above the warning threshold
    errors: int

    @property
    def nothing_to_do(self) -> bool:
        return self.ran == 0


class ShardWorker:
    """Loads the model once; explains and writes whole shards."""

    def __init__(
        self,
        settings: JobSettings,
        out: str | Path,
        device: str | None = None,
        loaded: tuple[Any, Any] | None = None,
        threads: int | None = None,
    ) -> None:
        from nerlens.explainer import Explainer
        from nerlens.models import load_model

        self.settings = settings
        self.source = source_of(settings)
        self.store = Store(out)
        model, tokenizer = loaded or load_model(settings.model)
        self.explainer = Explainer(
            model,
            tokenizer,
            settings.method,
            long_text=settings.long_text,
            stride=settings.stride,
            context=settings.context,
            aggregation_strategy=settings.aggregation_strategy,
            device=device,
            threads=threads,
            progress=False,
            **settings.method_options,
        )

    def run(self, span: Span, advance: Callable[[int], None] = lambda n: None) -> dict[str, Any]:
        """Explain and write one shard; return its completion marker."""
        from nerlens.errors import ConvergenceWarning

        started = time.time()
        rows = ShardRows()
        records = list(self.source.read(span))  # one shard: at most shard_size records
        # one session for the shard: the model is readied once, not once per record
        threads = intra_op_threads(self.explainer.threads)
        with threads, self.explainer.runner.session(), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # one per record would flood
            for explained in explain_records(self.explainer, records, self.settings):
                rows.add(explained)
        advance(len(records))
        device = str(next(self.explainer.model.parameters()).device)
        marker = self.store.write_shard(span.shard, rows, started, device)
        release_free_memory()
        return marker


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc only; elsewhere nothing).

    Worker threads allocate from their own malloc arenas, and a shard's short-lived tensors of
    many sizes leave them fragmented: without this, peak memory crept up with corpus size.
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


def source_of(settings: JobSettings) -> Source:
    return Source(settings.input, settings.format, settings.text_field, settings.id_field)


def check_settings(settings: JobSettings) -> None:
    """Reject bad options before any model or file work."""
    from nerlens.entities import check_strategy
    from nerlens.methods import get_method_class

    get_method_class(settings.method)
    check_strategy(settings.aggregation_strategy)
    if settings.targets not in TARGET_CHOICES:
        raise InputError(
            f"--targets must be one of {list(TARGET_CHOICES)}, got {settings.targets!r}"
        )
    if settings.targets == "gold" and settings.format != "conll":
        raise InputError("--targets gold needs gold labels: give a CoNLL/IOB input")
    if settings.long_text not in ("error", "window"):
        raise InputError(f"--long-text must be 'error' or 'window', got {settings.long_text!r}")
    if settings.shard_size < 1:
        raise InputError(f"--shard-size must be a positive integer, got {settings.shard_size!r}")


def model_hash(model: Any) -> str:
    """SHA-256 over the model's parameter and buffer names, dtypes, shapes and bytes."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def versions() -> dict[str, str]:
    import torch
    import transformers

    from nerlens import __version__

    return {
        "nerlens": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def build_manifest(settings: JobSettings, spans: list[Span], model: Any) -> dict[str, Any]:
    """The manifest: settings, model and input fingerprints, versions, the shard plan's size."""
    return {
        "settings": json.loads(json.dumps(asdict(settings))),
        "job": {k: v for k, v in json.loads(json.dumps(asdict(settings))).items() if k != "input"},
        "model": settings.model,
        "model_hash": model_hash(model),
        "labels": [model.config.id2label[i] for i in range(len(model.config.id2label))],
        "input": str(Path(settings.input).resolve()),
        "input_hash": file_hash(Path(settings.input)),
        "shards": len(spans),
        "versions": versions(),
    }


def run_job(
    settings: JobSettings,
    out: str | Path,
    *,
    engine: str = "local",
    ray_address: str | None = None,
    actors: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = True,
) -> JobResult:
    """Run (or finish) the job of ``settings`` into ``out``; a finished job does nothing.

    ``device`` places the local engine's model ("auto": a GPU if torch sees one); Ray actors use
    a GPU each where the cluster has GPUs. Each shard's marker records the device that computed
    it (CPU and GPU results differ at float32 rounding level). ``threads`` bounds the local
    engine's CPU threads (torch's and the records explained at once; None: torch's count).
    """
    check_settings(settings)
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {list(ENGINES)}, got {engine!r}")
    if threads is not None and not is_int_at_least(threads, 1):
        raise InputError(f"--threads must be a positive int, got {threads!r}")
    if threads is not None and engine != "local":
        raise InputError(
            f"--threads applies to the local engine; Ray actors use the CPUs Ray gives them "
            f"(size the pool with --actors), got --threads {threads} with --engine {engine}"
        )
    from nerlens.models import load_model

    require("pyarrow", "corpus")
    settings = replace(settings, input=str(Path(settings.input).resolve()))  # for every worker
    source = source_of(settings)
    spans = source.plan(settings.shard_size)
    if not spans:
        raise InputError(f"{settings.input!r} holds no documents")
    loaded = load_model(settings.model)
    store = Store(out)
    with store.lock():
        store.claim(build_manifest(settings, spans, loaded[0]), IDENTITY)
        store.clean()
        done = store.finished()
        pending = [span for span in spans if span.shard not in done]
        total = sum(_records(span, spans, source) for span in pending)
        if pending:
            with _progress(progress, total) as advance:
                if engine == "local":
                    worker = ShardWorker(settings, out, device, loaded, threads)
                    for span in pending:
                        worker.run(span, advance)
                else:
                    from nerlens.corpus.ray_engine import run_ray

                    run_ray(settings, out, pending, ray_address, actors, advance)
        markers = store.finished()
    return JobResult(
        shards=len(spans),
        already_done=len(done),
        ran=len(pending),
        documents=sum(m["documents"] for m in markers.values()),
        targets=sum(m["targets"] for m in markers.values()),
        unconverged=sum(m["unconverged"] for m in markers.values()),
        errors=sum(m["errors"] for m in markers.values()),
    )


def _records(span: Span, spans: list[Span], source: Source) -> int:
    """How many records the shard holds (known from the plan: up to the next shard's first)."""
    if span.shard + 1 < len(spans):
        return spans[span.shard + 1].first_record - span.first_record
    return sum(1 for _ in source.read(span))


def _progress(show: bool, total: int) -> Any:
    from contextlib import nullcontext

    if not show:
        return nullcontext(lambda n: None)
    from rich.console import Console

    return _DocumentsBar(total, Console(stderr=True))


class _DocumentsBar:
    """A rich bar: documents done of total, documents per second, and the ETA."""

    def __init__(self, total: int, console: Any = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("explaining"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]} docs/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.bar.add_task("explaining", total=total, rate="…")
        self.started = time.monotonic()
        self.count = 0
        self.lock = threading.Lock()

    def advance(self, count: int) -> None:
        """Count ``count`` more documents done (called from the threads that explain them)."""
        with self.lock:
            self.count += count
            rate = self.count / max(time.monotonic() - self.started, 1e-9)
            self.bar.update(self.task, advance=count, rate=f"{rate:.1f}")

    def __enter__(self) -> Callable[[int], None]:
        self.bar.start()
        return self.advance

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()
