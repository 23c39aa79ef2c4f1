"""Questions about a finished (or partly finished) corpus job, answered by DuckDB over Parquet.

``nerlens.corpus.open(DIR)`` returns a :class:`Corpus`; every method returns a pandas DataFrame.
Only finished shards are read, so a job that is still running or was interrupted reads as the
documents finished so far.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nerlens.corpus.evaluation import (
    Entities,
    entity_errors,
    entity_scores,
    predicted_entities,
    tag_entities,
)
from nerlens.corpus.extras import require
from nerlens.corpus.store import SCHEMA, TABLES, Store
from nerlens.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from nerlens.explanation import Explanation

# One row per (target, token) with the token's attribution; the target's own tokens are marked,
# and so are the tokens it was attributed over: in a long document explained in windows, those
# outside the target's window hold 0 without having been weighed and are not its context (a 0
# inside the window is a genuine score).
_SCORES = """
    SELECT t.record, t.target_index, t.label, s.i, s.score,
           s.i >= t.position AND s.i < t.token_end AS own,
           s.i >= t.window_start AND s.i < t.window_end AS weighed
    FROM targets t,
         LATERAL (SELECT UNNEST(t.scores) AS score,
                         UNNEST(range(len(t.scores))) AS i) s
"""
# One row per (target, label of a label prompt) with the label's attribution: the sum over its
# tokens, which lie between two special tokens (as nerlens.aggregation groups them), the k-th
# such group being the document's k-th label.
_PROMPT_WORDS = f"""
    SELECT label, any_value(labels[prompt_label::BIGINT]) AS word, sum(score) AS score
    FROM (
        SELECT s.record, s.target_index, s.label, s.score, d.labels,
               d.special[s.i + 1] AS special, d.segments[s.i + 1] AS segment,
               count_if(d.segments[s.i + 1] = 'prompt' AND d.special[s.i + 1])
                   OVER (PARTITION BY s.record, s.target_index ORDER BY s.i) AS prompt_label
        FROM ({_SCORES}) s JOIN documents d USING (record)
        WHERE d.segments IS NOT NULL
    )
    WHERE segment = 'prompt' AND NOT special
    GROUP BY record, target_index, label, prompt_label
"""


class Corpus:
    """The tables of one output directory, as DuckDB views: documents, targets, errors."""

    def __init__(self, directory: str | Path) -> None:
        duckdb = require("duckdb", "corpus")
        self.store = Store(directory)
        manifest = self.store.read_manifest()
        if manifest is None:
            raise InputError(
                f"{str(directory)!r} has no manifest.json; give the --out directory of a "
                "`nerlens batch` run"
            )
        if manifest.get("schema") != SCHEMA:
            raise InputError(
                f"{str(directory)!r} holds tables of another layout (schema "
                f"{manifest.get('schema', 1)}; this nerlens reads schema {SCHEMA}); run the job "
                "again into a new --out directory"
            )
        self.manifest: dict[str, Any] = manifest
        self.connection = duckdb.connect()
        schemas = _empty_tables()
        for table in TABLES:
            files = [str(path) for path in self.store.files(table)]
            if files:
                self.connection.execute(
                    f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files!r})"
                )
            else:
                self.connection.register(f"_{table}_empty", schemas[table])
                self.connection.execute(f"CREATE VIEW {table} AS SELECT * FROM _{table}_empty")

    # ------------------------------------------------------------------ raw access
    def sql(self, query: str, parameters: list[Any] | None = None) -> pd.DataFrame:
        """Any DuckDB query over the views ``documents``, ``targets`` and ``errors``."""
        return self.connection.execute(query, parameters or []).df()

    def documents(self) -> pd.DataFrame:
        return self.sql("SELECT * FROM documents ORDER BY record")

    def targets(self) -> pd.DataFrame:
        return self.sql("SELECT * FROM targets ORDER BY record, target_index")

    def errors(self) -> pd.DataFrame:
        return self.sql("SELECT * FROM errors ORDER BY record")

    @property
    def has_gold(self) -> bool:
        return self._any("gold_tags IS NOT NULL")

    @property
    def has_prompt(self) -> bool:
        """Whether the model read a label prompt (a zero-shot model such as GLiNER)."""
        return self._any("list_contains(segments, 'prompt')")

    def _any(self, condition: str) -> bool:
        count = self.connection.execute(
            f"SELECT count(*) FROM documents WHERE {condition}"
        ).fetchone()
        return bool(count and count[0])

    def entities(self) -> pd.DataFrame:
        """One row per predicted entity, in each document's order: ``record``, ``doc_id``, then
        GLiNER's keys (``start``, ``end``: characters of the text; ``text``, ``label``,
        ``score``) and its tokens ``[token_start, token_end)``."""
        return self.sql(
            """
            SELECT record, doc_id, e.start, e."end", e.word AS text, e.entity_group AS label,
                   e.score, e.token_start, e.token_end
            FROM (SELECT record, doc_id, UNNEST(predicted_entities) AS e,
                         generate_subscripts(predicted_entities, 1) AS i FROM documents)
            ORDER BY record, i
            """
        )

    def span_scores(self) -> pd.DataFrame:
        """A span model's stored span scores: one row per (document, span, label) for the
        spans of its entities, of the explained targets and of the gold entities (the others
        are not stored). Columns: record, doc_id, token_start, token_end, start, end
        (characters), text, label, score. Empty for a token classifier."""
        return self.sql(
            """
            WITH spans AS (
                SELECT record, doc_id, text, offsets, labels,
                       UNNEST(units) AS unit, UNNEST(label_probabilities) AS scores
                FROM documents WHERE units IS NOT NULL
            ), located AS (
                SELECT *, offsets[unit[1] + 1][1] AS start, offsets[unit[2]][2] AS "end"
                FROM spans
            )
            SELECT record, doc_id, unit[1] AS token_start, unit[2] AS token_end, start, "end",
                   substr(text, start + 1, "end" - start) AS text,
                   UNNEST(labels) AS label, UNNEST(scores) AS score,
                   generate_subscripts(labels, 1) AS column_index
            FROM located
            ORDER BY record, token_start, token_end, column_index
            """
        ).drop(columns="column_index")

    # ------------------------------------------------------------------ summaries
    def overview(self) -> pd.DataFrame:
        """One row: documents, targets (and how many have |delta| above the warning threshold),
        errors, shards, compute time, throughput."""
        import pandas as pd

        markers = list(self.store.finished().values())
        documents = sum(m["documents"] for m in markers)
        errors = sum(m["errors"] for m in markers)
        compute = sum(m["finished"] - m["started"] for m in markers)
        wall = (
            max(m["finished"] for m in markers) - min(m["started"] for m in markers)
            if markers
            else 0.0
        )
        return pd.DataFrame(
            [
                {
                    "documents": documents,
                    "targets": sum(m["targets"] for m in markers),
                    "unconverged_targets": sum(m["unconverged"] for m in markers),
                    "errors": errors,
                    "shards_finished": len(markers),
                    "shards_planned": self.manifest["shards"],
                    "compute_seconds": compute,
                    "docs_per_second": (documents + errors) / compute if compute else None,
                    "wall_seconds": wall,
                }
            ]
        )

    def versions(self) -> pd.DataFrame:
        """The library versions that computed the finished shards: one row per set of versions
        (more than one only where a job was finished with ``allow_version_change``), with its
        shard count."""
        import pandas as pd

        counts: dict[tuple[tuple[str, str], ...], int] = {}
        for marker in self.store.finished().values():
            key = tuple(sorted(marker["versions"].items()))
            counts[key] = counts.get(key, 0) + 1
        return pd.DataFrame([{**dict(key), "shards": n} for key, n in counts.items()])

    def top_context(
        self,
        unit: str = "token",
        top: int = 10,
        order: str = "mean",
        min_count: int = 1,
        segment: str = "text",
    ) -> pd.DataFrame:
        """Per target label, the context tokens (or words) with the highest attribution.

        A target's own tokens (or the words they belong to), special tokens and, in long
        documents explained in windows, the tokens (words) not wholly inside the target's window
        are excluded.
        ``unit``: "token" or "word" (a word's attribution is the sum over its tokens);
        ``order``: "mean" or "total"; items seen fewer than ``min_count`` times are left out;
        ``segment``: "text" (the document's) or "prompt" (a zero-shot model's label prompt,
        which every window holds: its tokens, or as words each label as a whole; nothing for a
        token classifier).
        Columns: label, token or word, count, mean, total, rank.
        """
        if unit not in ("token", "word"):
            raise InputError(f"unit must be 'token' or 'word', got {unit!r}")
        if order not in ("mean", "total"):
            raise InputError(f"order must be 'mean' or 'total', got {order!r}")
        if segment not in ("text", "prompt"):
            raise InputError(f"segment must be 'text' or 'prompt', got {segment!r}")
        if unit == "token":
            weighed = "s.weighed" if segment == "text" else "true"  # the prompt: every window
            items = f"""
                SELECT s.label, d.tokens[s.i + 1] AS token, s.score
                FROM ({_SCORES}) s JOIN documents d USING (record)
                WHERE NOT s.own AND {weighed} AND NOT d.special[s.i + 1]
                      AND coalesce(d.segments[s.i + 1], 'text') = '{segment}'
            """
        elif segment == "prompt":
            items = _PROMPT_WORDS
        else:
            items = f"""
                SELECT label, any_value(substr(text, first + 1, last - first)) AS word,
                       sum(score) AS score
                FROM (
                    SELECT s.record, s.target_index, s.label, s.score, s.own, s.weighed, d.text,
                           d.word_ids[s.i + 1] AS word_id,
                           min(d.offsets[s.i + 1][1]) OVER w AS first,
                           max(d.offsets[s.i + 1][2]) OVER w AS last
                    FROM ({_SCORES}) s JOIN documents d USING (record)
                    WHERE NOT d.special[s.i + 1] AND d.word_ids[s.i + 1] IS NOT NULL
                    WINDOW w AS (PARTITION BY s.record, s.target_index, d.word_ids[s.i + 1])
                )
                GROUP BY record, target_index, label, word_id
                HAVING NOT bool_or(own) AND bool_and(weighed)
            """
        return self.sql(
            f"""
            SELECT label, {unit}, count(*) AS count, avg(score) AS mean, sum(score) AS total,
                   row_number() OVER (PARTITION BY label ORDER BY {order} DESC, {unit}) AS rank
            FROM ({items})
            GROUP BY label, {unit}
            HAVING count(*) >= ?
            QUALIFY rank <= ?
            ORDER BY label, rank
            """,
            [min_count, top],
        )

    # ------------------------------------------------------------------ gold
    def gold_scores(self) -> pd.DataFrame:
        """Precision, recall, F1 and support per entity type, and their micro, macro and
        weighted averages, at entity level: span and type must both match (seqeval's numbers;
        see :mod:`nerlens.corpus.evaluation`)."""
        documents = self._gold_documents()
        if not documents:
            raise InputError("this corpus has no gold labels (run `nerlens batch` on CoNLL input)")
        return entity_scores((gold, predicted) for *_, gold, predicted in documents)

    def gold_errors(self) -> pd.DataFrame:
        """Every false positive and false negative entity (span and type must both match).

        Columns: kind ("false positive"/"false negative"), record, doc_id, start, end (characters),
        label (the predicted type for a false positive, the gold type for a false negative), span.
        """
        import pandas as pd

        rows = [
            {
                "kind": kind,
                "record": record,
                "doc_id": doc_id,
                "start": start,
                "end": end,
                "label": label,
                "span": text[start:end],
            }
            for record, doc_id, text, gold, predicted in self._gold_documents()
            for kind, label, start, end in entity_errors(gold, predicted)
        ]
        columns = ["kind", "record", "doc_id", "start", "end", "label", "span"]
        return pd.DataFrame(rows, columns=columns)

    def _gold_documents(self) -> list[tuple[int, str, str, Entities, Entities]]:
        """``(record, doc_id, text, gold, predicted)`` of each document with gold labels: the
        gold entities of its tags, and the model's (see :func:`predicted_entities`)."""
        frame = self.sql(
            "SELECT record, doc_id, text, gold_tags, predicted_tags, predicted_tags IS NULL, "
            "predicted_entities FROM documents WHERE gold_tags IS NOT NULL ORDER BY record"
        )
        return [
            (
                int(record),
                doc_id,
                text,
                tag_entities(text, gold),
                predicted_entities(text, None if spans else list(tags), entities),
            )
            for record, doc_id, text, gold, tags, spans, entities in frame.itertuples(index=False)
        ]

    # ------------------------------------------------------------------ explanations
    def explanation(
        self, record: int, start: int | None = None, end: int | None = None
    ) -> Explanation:
        """The Explanation of input record ``record`` (its targets overlapping ``[start, end)``)."""
        from nerlens.entities import Entity
        from nerlens.explanation import Explanation
        from nerlens.targets import target_from_dict

        cursor = self.connection.execute("SELECT * FROM documents WHERE record = ?", [record])
        found = cursor.fetchone()
        if found is None:
            raise InputError(f"record {record!r} is not among the explained documents")
        document = dict(zip([c[0] for c in cursor.description], found))
        query = "SELECT * FROM targets WHERE record = ?"
        parameters: list[Any] = [record]
        if start is not None and end is not None:
            query += ' AND start < ? AND "end" > ?'
            parameters += [end, start]
        targets = self.sql(query + " ORDER BY target_index", parameters)
        num_tokens = len(document["tokens"])
        labels = tuple(document["labels"])
        units = document["units"]  # a span model's: only the stored spans' rows
        settings = self.manifest["settings"]
        return Explanation(
            text=document["text"],
            tokens=tuple(document["tokens"]),
            offsets=tuple((a, b) for a, b in document["offsets"]),
            special=tuple(document["special"]),
            word_ids=tuple(document["word_ids"]),
            labels=labels,
            probabilities=np.array(document["label_probabilities"], dtype=np.float64).reshape(
                -1, len(labels)
            ),
            units=None if units is None else tuple((a, b) for a, b in units),
            segments=tuple(document["segments"] or ()),
            targets=tuple(target_from_dict(_target_dict(row)) for _, row in targets.iterrows()),
            attributions=np.array([list(s) for s in targets["scores"]]).reshape(-1, num_tokens),
            target_values=targets["target_value"].to_numpy(float),
            baseline_values=targets["baseline_value"].to_numpy(float),
            deltas=targets["delta"].to_numpy(float),
            steps=targets["steps"].to_numpy(np.int64),
            # the model's options (a GLiNER model's threshold...) as an Explanation records them
            settings={**settings, **settings.get("model_options", {})},
            entities=tuple(Entity.from_dict(e) for e in document["predicted_entities"]),
        )


def open_corpus(directory: str | Path) -> Corpus:
    """The :class:`Corpus` of a ``nerlens batch`` output directory."""
    return Corpus(directory)


def _target_dict(row: Any) -> dict[str, Any]:
    if row["kind"] == "token":
        return {"kind": "token", "position": int(row["position"]), "label": row["label"]}
    if row["kind"] == "span":
        return {
            "kind": "span",
            "start": int(row["position"]),
            "end": int(row["token_end"]),
            "label": row["label"],
            "foil": row["foil"],
        }
    if row["kind"] == "contrast":
        return {
            "kind": "contrast",
            "position": int(row["position"]),
            "label": row["label"],
            "foil": row["foil"],
        }
    return {
        "kind": "entity",
        "start": int(row["position"]),
        "end": int(row["token_end"]),
        "label": row["label"],
        "labels": tuple(row["target_labels"]),
    }


def _empty_tables() -> dict[str, Any]:
    from nerlens.corpus.store import schemas

    return {name: schema.empty_table() for name, schema in schemas().items()}
