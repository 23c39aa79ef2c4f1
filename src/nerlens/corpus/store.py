"""The output directory: manifest, Parquet shards written atomically, and completion markers.

Layout::

    DIR/manifest.json            settings, model and input fingerprints, versions
    DIR/documents/shard-NNNNN.parquet
    DIR/targets/shard-NNNNN.parquet
    DIR/errors/shard-NNNNN.parquet
    DIR/done/shard-NNNNN.json    written last: the shard is finished (row counts, timings)

Every file is written to a temporary name, flushed to the disk (``fsync``) and renamed into
place (``os.replace`` is atomic); the directories are flushed before the ``done`` marker is
written, and the marker is renamed last. So a crash at any moment, a power cut included, leaves
each shard either finished or not. The set of markers on disk is the whole state of a job: a
re-run deletes what unfinished shards left behind and redoes exactly those shards.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nerlens.corpus.extras import require
from nerlens.errors import CONVERGENCE_DELTA, InputError

TABLES = ("documents", "targets", "errors")
# The tables' layout, in every manifest (2: targets have their window span; 3: documents have
# their tokens' segments and a span model's units).
SCHEMA = 3
DONE = "done"
LOCK = ".lock"


def schemas() -> dict[str, Any]:
    """The pyarrow schema of each table (fixed, so empty shards and every engine agree)."""
    import pyarrow as pa

    span = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string())])
    entity = pa.struct(  # nerlens.entities.Entity: the pipeline's fields plus token span, tags
        [
            ("entity_group", pa.string()),
            ("score", pa.float64()),
            ("word", pa.string()),
            ("start", pa.int32()),
            ("end", pa.int32()),
            ("token_start", pa.int32()),
            ("token_end", pa.int32()),
            ("labels", pa.list_(pa.string())),
        ]
    )
    return {
        "documents": pa.schema(
            [
                ("record", pa.int64()),
                ("line", pa.int64()),
                ("doc_id", pa.string()),
                ("text", pa.string()),
                ("tokens", pa.list_(pa.string())),
                ("offsets", pa.list_(pa.list_(pa.int32()))),
                ("special", pa.list_(pa.bool_())),
                ("word_ids", pa.list_(pa.int32())),
                ("segments", pa.list_(pa.string())),  # null: no prompt (special, else text)
                ("predicted_labels", pa.list_(pa.string())),
                ("probabilities", pa.list_(pa.float64())),
                ("units", pa.list_(pa.list_(pa.int32()))),  # null: a row per token
                ("label_probabilities", pa.list_(pa.list_(pa.float64()))),
                ("labels", pa.list_(pa.string())),
                ("windows", pa.int32()),
                ("predicted_entities", pa.list_(entity)),
                ("gold_entities", pa.list_(span)),
                ("gold_tags", pa.list_(pa.string())),
                ("predicted_tags", pa.list_(pa.string())),
            ]
        ),
        "targets": pa.schema(
            [
                ("record", pa.int64()),
                ("doc_id", pa.string()),
                ("target_index", pa.int32()),
                ("kind", pa.string()),
                ("label", pa.string()),
                ("foil", pa.string()),
                ("target_labels", pa.list_(pa.string())),
                ("position", pa.int32()),
                ("token_end", pa.int32()),
                ("window_start", pa.int32()),
                ("window_end", pa.int32()),
                ("start", pa.int32()),
                ("end", pa.int32()),
                ("probability", pa.float64()),
                ("target_value", pa.float64()),
                ("baseline_value", pa.float64()),
                ("delta", pa.float64()),
                ("steps", pa.int64()),
                ("scores", pa.list_(pa.float64())),
                ("gold_label", pa.string()),
                ("gold_exact", pa.bool_()),
            ]
        ),
        "errors": pa.schema(
            [
                ("record", pa.int64()),
                ("line", pa.int64()),
                ("doc_id", pa.string()),
                ("message", pa.string()),
            ]
        ),
    }


class Store:
    """One job's output directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    def read_manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.exists():
            return None
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def claim(self, manifest: dict[str, Any], check: Callable[[dict[str, Any]], None]) -> None:
        """Start the job of ``manifest``, or continue the one the directory holds if ``check``
        (given that job's manifest) accepts it; a non-empty directory without a job is refused."""
        existing = self.read_manifest()
        if existing is None:
            if any(not _ours(path) for path in self.directory.iterdir()):
                raise InputError(
                    f"{str(self.directory)!r} exists, is not empty and has no manifest.json; "
                    "give a new or empty directory for --out"
                )
            _write_atomic(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
        else:
            check(existing)
        for name in (*TABLES, DONE):
            (self.directory / name).mkdir(exist_ok=True)
        _sync_directory(self.directory)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the directory (a second job on it is refused, not mixed in).

        An operating-system lock (``filelock``: POSIX and Windows alike), released by the system
        when the process dies, so a killed job never leaves the directory locked.
        """
        require("filelock", "corpus")
        from filelock import FileLock, Timeout

        self.directory.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.directory / LOCK, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise InputError(
                f"another nerlens batch is running on {str(self.directory)!r}; wait for it to "
                "finish (or stop it) and run this command again"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def finished(self) -> dict[int, dict[str, Any]]:
        """The finished shards and their markers, read back from disk."""
        markers = {}
        for path in sorted((self.directory / DONE).glob("shard-*.json")):
            markers[int(path.stem.removeprefix("shard-"))] = json.loads(path.read_text("utf-8"))
        return markers

    def clean(self) -> None:
        """Delete temporary files and the files of shards that have no completion marker."""
        done = set(self.finished())
        for name in (*TABLES, DONE):
            for path in (self.directory / name).iterdir():
                stem = path.name.split(".")[0]
                if path.name.startswith(".") or int(stem.removeprefix("shard-")) not in done:
                    path.unlink()

    def files(self, table: str) -> list[Path]:
        """The files of ``table`` that belong to finished shards."""
        return [self.directory / table / f"shard-{k:05d}.parquet" for k in sorted(self.finished())]

    def write_shard(
        self, shard: int, rows: Any, started: float, device: str, versions: dict[str, str]
    ) -> dict[str, Any]:
        """Write one shard's three tables, then its marker (each atomically and durably); return
        the marker. It records the device and library ``versions`` that computed the shard."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = schemas()
        for name in TABLES:
            table = pa.Table.from_pylist(getattr(rows, name), schema=tables[name])
            path = self.directory / name / f"shard-{shard:05d}.parquet"
            _write_atomic(path, lambda stream, table=table: pq.write_table(table, stream))
        for name in TABLES:  # the renames reach the disk before the marker says they happened
            _sync_directory(self.directory / name)
        marker = {
            "documents": len(rows.documents),
            "targets": len(rows.targets),
            "unconverged": sum(abs(t["delta"]) > CONVERGENCE_DELTA for t in rows.targets),
            "errors": len(rows.errors),
            "started": started,
            "finished": time.time(),
            "device": device,
            "versions": versions,
        }
        path = self.directory / DONE / f"shard-{shard:05d}.json"
        _write_atomic(path, json.dumps(marker, sort_keys=True))
        _sync_directory(path.parent)
        return marker


def _ours(path: Path) -> bool:
    """The lock, or a temporary file a killed run left (both safe to find in a new DIR)."""
    return path.name == LOCK or (path.name.startswith(".") and path.name.endswith(".tmp"))


def _write_atomic(path: Path, content: str | Callable[[Any], None]) -> None:
    """Write ``content`` (text, or a function that writes to a binary stream) to a temporary
    file, flush it to the disk, then rename it to ``path``: readers see all of it or nothing."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as stream:
        if isinstance(content, str):
            stream.write(content.encode("utf-8"))
        else:
            content(stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def _sync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries (the files renamed into it) to the disk. POSIX only:
    Windows cannot open a directory, and its file system journals renames itself."""
    if os.name == "nt":
        return
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
