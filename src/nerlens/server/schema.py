"""The JSON API's request bodies, and the wording of their validation errors.

(No ``from __future__ import annotations`` here: pydantic reads these models' annotations at run
time, and the request model's choices are local to :func:`request_model`.)
"""

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from nerlens.entities import STRATEGIES
from nerlens.methods import DEFAULT_METHOD, available_methods
from nerlens.server.settings import ServerSettings
from nerlens.targets import ContrastTarget, EntityTarget, Target, TokenTarget

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


def to_target(spec: BaseModel) -> Target:
    """The library's target for a request's target object."""
    data = spec.model_dump()
    kind = data.pop("kind")
    if kind == "entity":
        data["labels"] = tuple(data["labels"])
        return EntityTarget(**data)
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
