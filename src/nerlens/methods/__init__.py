"""Registry of attribution methods by name: the engine, CLI, server and errors all ask it."""

from __future__ import annotations

import inspect
from typing import Any

from nerlens.errors import InputError
from nerlens.methods.base import (
    Attribution,
    AttributionMethod,
    Budget,
    Capabilities,
    ModelInput,
)
from nerlens.methods.integrated_gradients import IntegratedGradients

_REGISTRY: dict[str, type[AttributionMethod]] = {}
_ALIASES: dict[str, str] = {}


def register_method(cls: type[AttributionMethod], aliases: tuple[str, ...] = ()) -> None:
    """Add a method under ``cls.name`` (and aliases); a name already taken raises."""
    for name in (cls.name, *aliases):
        if name in _REGISTRY or name in _ALIASES:
            raise ValueError(f"attribution method name {name!r} is already registered")
    _REGISTRY[cls.name] = cls
    _ALIASES.update({alias: cls.name for alias in aliases})


def available_methods() -> list[str]:
    """Registered method names (aliases not included), sorted."""
    return sorted(_REGISTRY)


def get_method_class(name: str) -> type[AttributionMethod]:
    """The class registered as ``name`` or an alias of it."""
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        raise InputError(
            f"unknown attribution method {name!r}; available: {available_methods()}"
            f" (aliases: {sorted(_ALIASES)})"
        )
    return _REGISTRY[key]


def create_method(name: str, **options: Any) -> AttributionMethod:
    """Instantiate a registered method; an option it does not take raises with the valid ones."""
    cls = get_method_class(name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(
            f"method {cls.name!r} takes no option(s) {unknown}; its options are {accepted}"
        )
    return cls(**options)


register_method(IntegratedGradients, aliases=("ig", "lig"))

__all__ = [
    "Attribution",
    "AttributionMethod",
    "Budget",
    "Capabilities",
    "ModelInput",
    "available_methods",
    "create_method",
    "get_method_class",
    "register_method",
]
