"""The Ray engine: Ray Data feeds the unfinished shards to an actor pool, one model per actor.

Each actor is a :class:`ShardWorker`: it reads its shard's byte (or row) range of the input,
runs the same per-document work as the local engine and writes the shard atomically into the
output directory (which must therefore be on storage every node can reach). The driver only sees
one small summary row per shard.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nerlens.corpus.extras import require
from nerlens.corpus.readers import Span
from nerlens.corpus.work import JobSettings
from nerlens.corpus.worker import ShardWorker


class _RayShardWorker:
    """A Ray actor around :class:`ShardWorker`; takes batches of shard spans."""

    def __init__(self, settings: str, out: str, threads: int, device: str | None) -> None:
        import torch

        torch.set_num_threads(threads)
        self.worker = ShardWorker(JobSettings(**json.loads(settings)), out, device=device)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[int]]:
        counts: dict[str, list[int]] = {"shard": [], "documents": [], "errors": []}
        for values in zip(*(batch[name] for name in Span.__dataclass_fields__)):
            span = Span(*(int(v) for v in values))
            marker = self.worker.run(span)
            counts["shard"].append(span.shard)
            counts["documents"].append(marker["documents"])
            counts["errors"].append(marker["errors"])
        return counts


def run_ray(
    settings: JobSettings,
    out: str | Path,
    pending: list[Span],
    address: str | None,
    actors: int | None,
    advance: Callable[[int], None],
) -> None:
    """Run ``pending`` shards on Ray (an existing cluster at ``address``, else a local one)."""
    ray = require("ray", "ray")
    require("ray.data", "ray")
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
    ray.data.DataContext.get_current().enable_progress_bars = False  # ours counts documents
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    size = actors or gpus or max(1, int(resources.get("CPU", 1)))
    cpus_per_actor = 1 if gpus else max(1, int(resources.get("CPU", 1)) // size)
    shards = ray.data.from_items(
        [asdict(span) for span in pending], override_num_blocks=len(pending)
    )
    results = shards.map_batches(
        _RayShardWorker,
        batch_size=1,
        concurrency=min(size, len(pending)),
        num_cpus=cpus_per_actor,
        num_gpus=1 if gpus else 0,
        fn_constructor_kwargs={
            "settings": json.dumps(asdict(settings)),
            "out": str(Path(out).resolve()),
            "threads": cpus_per_actor,
            "device": "cuda" if gpus else None,
        },
    )
    for row in results.iter_rows():
        advance(int(row["documents"]) + int(row["errors"]))
