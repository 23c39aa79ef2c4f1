"""A corpus job: plan the shards, claim the output directory, run the unfinished shards.

Both engines run :class:`~nerlens.corpus.worker.ShardWorker` (one model per worker): it reads
one shard of the input, calls the pure per-document work on each record and writes the shard
atomically.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from nerlens.corpus.extras import require
from nerlens.corpus.readers import Source, Span, file_hash
from nerlens.corpus.store import SCHEMA, Store
from nerlens.corpus.work import ACTORS, ENGINE, JOB_OPTIONS, RAY_ADDRESS, JobSettings
from nerlens.corpus.worker import ShardWorker, source_of, versions
from nerlens.errors import InputError, OptionError, shown
from nerlens.options import check_each, check_explainer_options
from nerlens.progress import progress as progress_bar

# What must match to continue a job in an existing DIR. The input is known by its hash (its
# path may differ between runs); the engine and progress options do not change any row. The
# versions must match too, or differ in their patch level only with allow_version_change.
IDENTITY = ("schema", "job", "model_hash", "input_hash")
WHAT_CHANGED = {
    "model_hash": "the model's weights changed",
    "input_hash": "the input file's bytes changed",
}


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


def check_settings(
    settings: JobSettings,
    engine: str = ENGINE.default,
    ray_address: str | None = RAY_ADDRESS.default,
    actors: int | None = ACTORS.default,
    device: str | None = "auto",
    threads: int | None = None,
) -> None:
    """Every option of the job, checked by its declaration before any model or file work: the
    job's own, the Explainer's and the method's; a bad one raises an OptionError naming it. The
    model's own options (a zero-shot model's labels) are checked by its kind once it is loaded
    (:func:`resolve_model_settings`)."""
    from nerlens.methods import create_method

    check_each(
        JOB_OPTIONS,
        dict(
            targets=settings.targets,
            shard_size=settings.shard_size,
            engine=engine,
            ray_address=ray_address,
            actors=actors,
        ),
    )
    check_explainer_options(
        long_text=settings.long_text,
        stride=settings.stride,
        context=settings.context,
        aggregation_strategy=settings.aggregation_strategy,
        device=device,
        threads=threads,
    )
    create_method(settings.method, **settings.method_options)
    if settings.targets == "gold" and settings.format != "conll":
        raise OptionError("{targets}='gold' needs gold labels: give a CoNLL/IOB input", "targets")
    for name, value in (("ray_address", ray_address), ("actors", actors)):
        if value is not None and engine != "ray":
            raise OptionError(
                f"{{{name}}}={shown(value)} only applies with {{engine}}='ray'", name, ["engine"]
            )
    if threads is not None and engine != "local":
        raise OptionError(
            "{threads} applies to the local engine; Ray actors use the CPUs Ray gives them "
            f"(size the pool with {{actors}}), got {{threads}}={threads} with "
            f"{{engine}}={engine!r}",
            "threads",
            ["actors", "engine"],
        )


def resolve_model_settings(settings: JobSettings, model: Any, tokenizer: Any) -> JobSettings:
    """``settings`` with their model part spelled out by the model's kind, so that a resumed
    job compares like with like: the kind's options as it takes them (a GLiNER model's labels as
    a list in their order, its threshold, flat_ner and multi_label with their defaults) and the
    kind's default targets. Options the kind does not take, targets it does not serve, or a
    zero-shot model given no labels are refused, before any file work."""
    from nerlens.models import kind_of

    kind = kind_of(model, tokenizer).configure(**settings.model_options)
    family = type(model).__name__
    if not kind.labels:
        raise OptionError(
            f"{{labels}} must name the entity types to look for: {family} is a zero-shot model "
            "with no labels of its own (e.g. person, location)",
            "labels",
        )
    targets = kind.default_targets if settings.targets is None else settings.targets
    # 'gold' is the job's own: each gold entity explained as the kind explains an entity
    if targets != "gold" and targets not in kind.selectors:
        raise OptionError(
            f"{{targets}}={shown(targets)} is not for {family} models; they explain "
            f"{' or '.join(repr(s) for s in kind.selectors)}",
            "targets",
        )
    values = {"labels": list(kind.labels), **kind.settings()}
    options = {name: value for name, value in values.items() if name in kind.options}
    return replace(settings, targets=targets, model_options=options)


def model_hash(model: Any) -> str:
    """SHA-256 over the model's parameter and buffer names, dtypes, shapes and bytes."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_resume(
    directory: Path, started: dict[str, Any], now: dict[str, Any], allow_version_change: bool
) -> None:
    """Refuse to finish the job of manifest ``started`` as the job of manifest ``now`` would
    run it: other settings, model or input, or other library versions (unless they differ in
    their patch level only and ``allow_version_change``). The message names every change, old
    -> new, and the way out."""
    where = repr(str(directory))
    changed = _changes(started, now, IDENTITY)
    if changed:
        raise InputError(
            f"{where} holds a job with other settings: {'; '.join(changed.values())}. Finish "
            "it with the settings it was started with (its manifest.json lists them), or give "
            "a new --out directory for these"
        )
    changed = _changes(started, now, ("versions",))
    if not changed:
        return
    details = "; ".join(changed.values())
    before, after = started.get("versions") or {}, now["versions"]
    moved = [
        name
        for name in sorted(before.keys() | after.keys())
        if _series(before.get(name)) != _series(after.get(name))
    ]
    if moved:
        pins = ", ".join(f"{name} {_series(before.get(name))}.*" for name in moved)
        raise InputError(
            f"{where} holds a job computed with other versions: {details}. A new release "
            f"series may change the numbers: finish the job with {pins} installed, or give a "
            "new --out directory to start over"
        )
    if not allow_version_change:
        raise InputError(
            f"{where} holds a job computed with other versions: {details}. Pass "
            "--allow-version-change (allow_version_change=True) to finish it with these (the "
            "finished shards keep their numbers; each shard records the versions that computed "
            "it), or give a new --out directory to start over"
        )


def _changes(before: dict[str, Any], now: dict[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    """``{"job.method_options.n_steps": "job.method_options.n_steps: 8 -> 9"}``: each flattened
    key of ``keys`` whose value differs, with its old and new value."""
    old = _flatten({key: before.get(key) for key in keys})
    new = _flatten({key: now.get(key) for key in keys})
    changes = {}
    for key in sorted(old.keys() | new.keys()):
        if key not in old or key not in new or old[key] != new[key]:
            why = f" ({WHAT_CHANGED[key]})" if key in WHAT_CHANGED else ""
            changes[key] = f"{key}: {_shown(old, key)} -> {_shown(new, key)}{why}"
    return changes


def _shown(values: dict[str, Any], key: str) -> str:
    return repr(values[key]) if key in values else "(absent)"


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"job": {"n_steps": 8}}`` -> ``{"job.n_steps": 8}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _series(version: str | None) -> str | None:
    """A version's release series, ``"2.13"`` for ``"2.13.1+cpu"``; the whole string when it
    does not parse (then any change is a new series)."""
    from packaging.version import InvalidVersion, Version

    try:
        return ".".join(str(n) for n in Version(version or "").release[:2])
    except InvalidVersion:
        return version


def build_manifest(
    settings: JobSettings, spans: list[Span], model: Any, tokenizer: Any
) -> dict[str, Any]:
    """The manifest: settings, model and input fingerprints, the labels the model explains (a
    zero-shot model's: the job's), versions, the shard plan's size."""
    from nerlens.models import kind_of

    labels = kind_of(model, tokenizer).configure(**settings.model_options).labels
    return {
        "schema": SCHEMA,
        "settings": json.loads(json.dumps(asdict(settings))),
        "job": {k: v for k, v in json.loads(json.dumps(asdict(settings))).items() if k != "input"},
        "model": settings.model,
        "model_hash": model_hash(model),
        "labels": list(labels),
        "input": str(Path(settings.input).resolve()),
        "input_hash": file_hash(Path(settings.input)),
        "shards": len(spans),
        "versions": versions(),
    }


def run_job(
    settings: JobSettings,
    out: str | Path,
    *,
    engine: str = ENGINE.default,
    ray_address: str | None = RAY_ADDRESS.default,
    actors: int | None = ACTORS.default,
    device: str | None = "auto",
    threads: int | None = None,
    progress: bool = True,
    allow_version_change: bool = False,
) -> JobResult:
    """Run (or finish) the job of ``settings`` into ``out``; a finished job does nothing.

    A job is finished only with its own settings, model, input and library versions;
    ``allow_version_change`` accepts versions that differ in their patch level only (a
    ``pip install -U`` between two runs), recorded per shard.

    ``device`` places the local engine's model ("auto": a GPU if torch sees one); Ray actors use
    a GPU each where the cluster has GPUs. Each shard's marker records the device that computed
    it (CPU and GPU results differ at float32 rounding level). ``threads`` bounds the local
    engine's CPU threads (torch's and the records explained at once; None: torch's count).
    """
    check_settings(settings, engine, ray_address, actors, device, threads)
    from nerlens.models import load_model

    require("pyarrow", "corpus")
    settings = replace(settings, input=str(Path(settings.input).resolve()))  # for every worker
    source = source_of(settings)
    spans = source.plan(settings.shard_size)
    if not spans:
        raise InputError(f"{settings.input!r} holds no documents")
    loaded = load_model(settings.model)
    settings = resolve_model_settings(settings, *loaded)
    store = Store(out)
    with store.lock():
        manifest = build_manifest(settings, spans, *loaded)
        store.claim(
            manifest,
            lambda started: check_resume(store.directory, started, manifest, allow_version_change),
        )
        store.clean()
        done = store.finished()
        pending = [span for span in spans if span.shard not in done]
        total = sum(_records(span, spans, source) for span in pending)
        if pending:
            with progress_bar(progress, total, "docs") as advance:
                if engine == "local":
                    worker = ShardWorker(settings, out, device, loaded, threads, progress)
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
