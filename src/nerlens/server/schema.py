"""The JSON API's request bodies, and the wording of their validation errors.

The bodies are built per app from the model's kind: the targets it can be asked for (its
selectors), and the model options it takes per request (a zero-shot model's ``labels``,
``threshold``...), bounded by the operator's settings.

(No ``from __future__ import annotations`` here: pydantic reads these models' annotations at run
time, and the request model's choices are local to :func:`request_model`.)
"""

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, create_model

from nerlens.entities import STRATEGIES
from nerlens.methods import DEFAULT_METHOD, available_methods
from nerlens.models.base import ModelKind
from nerlens.server.settings import ServerSettings
from nerlens.targets import ContrastTarget, EntityTarget, SpanTarget, Target, TokenTarget

MAX_ERROR_CHARS = 1000  # an error message is about the request, never a copy of it


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


class SpanTargetIn(_Strict):
    """A span model's target: tokens ``[start, end)`` (whole words, as the Explanation's
    ``tokens`` number them, label prompt included), ``label``, and ``foil`` for a contrast."""

    kind: Literal["span"]
    start: Annotated[StrictInt, Field(ge=0)]
    end: Annotated[StrictInt, Field(ge=1)]
    label: StrictStr
    foil: StrictStr | None = None


class GoldIn(_Strict):
    """A true entity: the characters ``text[start:end]`` are an entity of type ``label``."""

    start: Annotated[StrictInt, Field(ge=0)]
    end: Annotated[StrictInt, Field(ge=1)]
    label: StrictStr


TokenTargetsIn = Annotated[
    TokenTargetIn | EntityTargetIn | ContrastTargetIn | SpanTargetIn, Field(discriminator="kind")
]


def request_model(settings: ServerSettings, kind: ModelKind) -> type[BaseModel]:
    """The body of ``POST /api/explain`` and ``/api/view`` for a model of this ``kind``, with
    this server's bounds (shown in the OpenAPI schema)."""
    methods = tuple(available_methods())
    selectors = tuple(s for s in kind.selectors if s != "gold")  # 'gold' comes with gold
    # a model without token targets (a span model) is asked about spans only
    target = TokenTargetsIn if "tokens" in kind.selectors else SpanTargetIn
    listed = Annotated[list[target], Field(min_length=1, max_length=settings.max_targets)]
    targets = Literal[selectors] | listed  # type: ignore[valid-type]
    fields: dict[str, Any] = {
        "text": (_text(settings), ...),
        "method": (Literal[methods], DEFAULT_METHOD),  # type: ignore[valid-type]
        "targets": (targets, kind.default_targets),
        "n_steps": (
            Literal["auto"] | Annotated[StrictInt, Field(ge=1, le=settings.max_steps)] | None,
            None,
        ),
        **model_option_fields(settings, kind),
        "aggregation_strategy": (Literal[STRATEGIES], "simple"),  # type: ignore[valid-type]
        "gold": (Annotated[list[GoldIn], Field(max_length=settings.max_targets)] | None, None),
    }
    if "tokens" in kind.selectors:  # tokens are dropped by their predicted label
        label_choices = tuple(kind.labels)
        fields["ignored_labels"] = (
            list[Literal[label_choices]],  # type: ignore[valid-type]
            Field(default_factory=list, max_length=len(label_choices)),
        )
    return create_model("ExplainRequest", __base__=_Strict, **fields)


def tag_model(settings: ServerSettings, kind: ModelKind) -> type[BaseModel]:
    """The body of ``POST /api/tag``: a text, and the model options the kind takes."""
    fields: dict[str, Any] = {
        "text": (_text(settings), ...),
        **model_option_fields(settings, kind),
        "aggregation_strategy": (Literal[STRATEGIES], "simple"),  # type: ignore[valid-type]
    }
    return create_model("TagRequest", __base__=_Strict, **fields)


def _text(settings: ServerSettings) -> Any:
    return Annotated[StrictStr, Field(min_length=1, max_length=settings.max_text_chars)]


def model_option_fields(settings: ServerSettings, kind: ModelKind) -> dict[str, Any]:
    """A request's fields for the model options the kind takes per call: ``labels`` (required
    when the model has none of its own), each a bounded text, and the decoding options (left
    out: the model's defaults). The library checks the rest (distinct, non-blank labels)."""
    label = Annotated[StrictStr, Field(min_length=1, max_length=settings.max_label_chars)]
    labels = Annotated[list[label], Field(min_length=1, max_length=settings.max_labels)]
    known: dict[str, Any] = {
        "labels": (labels, ...) if not kind.labels else (labels | None, None),
        "threshold": (Annotated[float, Field(ge=0, lt=1)] | None, None),
        "flat_ner": (StrictBool | None, None),
        "multi_label": (StrictBool | None, None),
    }
    return {name: known[name] for name in kind.options if name in known}


def model_options(request: BaseModel, kind: ModelKind) -> dict[str, Any]:
    """The model options a request gives (those it leaves out keep the model's defaults)."""
    given = {name: getattr(request, name, None) for name in kind.options}
    return {name: value for name, value in given.items() if value is not None}


def to_target(spec: BaseModel) -> Target:
    """The library's target for a request's target object."""
    data = spec.model_dump()
    kind = data.pop("kind")
    if kind == "entity":
        data["labels"] = tuple(data["labels"])
        return EntityTarget(**data)
    if kind == "span":
        return SpanTarget(**data)
    return TokenTarget(**data) if kind == "token" else ContrastTarget(**data)


def describe(errors: Sequence[Any]) -> str:
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


def details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors without the input they were about (never echoed back)."""
    return [
        {
            "type": str(error.get("type")),
            "loc": list(error.get("loc", ())),
            "msg": short(str(error.get("msg", ""))),
        }
        for error in errors
    ]


def short(message: str) -> str:
    """An error message cut to :data:`MAX_ERROR_CHARS` characters."""
    if len(message) <= MAX_ERROR_CHARS:
        return message
    return message[: MAX_ERROR_CHARS - 1] + "…"
