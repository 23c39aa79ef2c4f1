"""The output directory: manifest, Parquet shards written atomically, and completion markers.

Layout::

    DIR/manifest.json            settings, model and input fingerprints, versions
    DIR/documents/shard-NNNNN.parquet
    DIR/targets/shard-NNNNN.parquet
    DIR/errors/shard-NNNNN.parquet
    DIR/done/shard-NNNNN.json    written last: the shard is finished (row counts, timings)

Every file is written to a temporary name and renamed into place (``os.replace`` is atomic), and
the ``done`` marker is renamed last, so a crash at any moment leaves each shard either finished or
not. The set of markers on disk is the whole state of a job: a re-run deletes what unfinished
shards left behind and redoes exactly those shards.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from nerlens.errors import CONVERGENCE_DELTA, InputError

TABLES = ("documents", "targets", "errors")
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
                ("predicted_labels", pa.list_(pa.string())),
                ("probabilities", pa.list_(pa.float64())),
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

    def claim(self, manifest: dict[str, Any], identity: tuple[str, ...]) -> None:
        """Start or continue the job of ``manifest``; a DIR holding another job is refused.

        ``identity`` names the manifest keys that must match: settings, fingerprints, versions.
        """
        existing = self.read_manifest()
        if existing is None:
            if any(not _ours(path) for path in self.directory.iterdir()):
                raise InputError(
                    f"{str(self.directory)!r} exists, is not empty and has no manifest.json; "
                    "give a new or empty directory for --out"
                )
            _write_atomic(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True))
            existing = manifest
        before = _flatten({key: existing.get(key) for key in identity})
        now = _flatten({key: manifest.get(key) for key in identity})
        changed = sorted(
            key for key in before.keys() | now.keys() if before.get(key) != now.get(key)
        )
        if changed:
            details = "; ".join(
                f"{key} was {before.get(key)!r}, now {now.get(key)!r}" for key in changed
            )
            raise InputError(
                f"{str(self.directory)!r} holds a job with other settings ({details}); "
                "re-run with the same settings to finish it, or give a new --out directory"
            )
        for name in (*TABLES, DONE):
            (self.directory / name).mkdir(exist_ok=True)

    def lock(self) -> Any:
        """Hold an exclusive lock on the directory (a second job on it is refused, not mixed in)."""
        import fcntl

        self.directory.mkdir(parents=True, exist_ok=True)
        handle = (self.directory / LOCK).open("a")  # "a": the file is never rewritten
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise InputError(
                f"another nerlens batch is running on {str(self.directory)!r}; wait for it to "
                "finish (or stop it) and run this command again"
            ) from None
        return handle

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

    def write_shard(self, shard: int, rows: Any, started: float, device: str) -> dict[str, Any]:
        """Write one shard's three tables, then its marker (each atomically); return the marker."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = schemas()
        for name in TABLES:
            table = pa.Table.from_pylist(getattr(rows, name), schema=tables[name])
            path = self.directory / name / f"shard-{shard:05d}.parquet"
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            pq.write_table(table, temporary)
            os.replace(temporary, path)
        marker = {
            "documents": len(rows.documents),
            "targets": len(rows.targets),
            "unconverged": sum(abs(t["delta"]) > CONVERGENCE_DELTA for t in rows.targets),
            "errors": len(rows.errors),
            "started": started,
            "finished": time.time(),
            "device": device,
        }
        path = self.directory / DONE / f"shard-{shard:05d}.json"
        _write_atomic(path, json.dumps(marker, sort_keys=True))
        return marker


def _ours(path: Path) -> bool:
    """The lock, or a temporary file a killed run left (both safe to find in a new DIR)."""
    return path.name == LOCK or (path.name.startswith(".") and path.name.endswith(".tmp"))


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"settings": {"n_steps": 8}}`` → ``{"settings.n_steps": 8}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
