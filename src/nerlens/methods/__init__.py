"""Registry of attribution methods by name: the engine, CLI, server and errors all ask it.

Each registered method declares its :class:`Capabilities` and its formula (``formula``: one line,
the exact definition of φ_t,i). Users add their own with :func:`register_method`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from nerlens.defaults import DEFAULT_METHOD, DEFAULT_N_STEPS
from nerlens.errors import InputError
from nerlens.methods.base import (
    Attribution,
    AttributionMethod,
    Budget,
    Capabilities,
)
from nerlens.methods.gradient_x_input import GradientXInput
from nerlens.methods.integrated_gradients import IntegratedGradients
from nerlens.methods.lime import Lime
from nerlens.methods.occlusion import Occlusion
from nerlens.methods.saliency import Saliency
from nerlens.methods.shapley_sampling import ShapleySampling
from nerlens.model_input import ModelInput
from nerlens.options import Option, check_method_options, declared_options

_REGISTRY: dict[str, type[AttributionMethod]] = {}
_ALIASES: dict[str, str] = {}
_FORMULAS: dict[str, str] = {}


@dataclass(frozen=True)
class MethodInfo:
    """What the registry knows about a method: for ``nerlens methods``, docs and servers."""

    name: str
    aliases: tuple[str, ...]
    formula: str
    capabilities: Capabilities
    options: dict[str, Any]  # option name -> default

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "aliases": list(self.aliases)}

    @property
    def declarations(self) -> tuple[Option, ...]:
        """The method's options as declared: default, allowed values and help of each."""
        return options_of(get_method_class(self.name))


def register_method(
    cls: type[AttributionMethod], aliases: tuple[str, ...] = (), formula: str | None = None
) -> None:
    """Add a method under ``cls.name`` (and aliases); a name already taken raises.

    ``formula`` (else ``cls.formula``, else the first line of its docstring) documents exactly
    what the method computes.
    """
    for name in (cls.name, *aliases):
        if name in _REGISTRY or name in _ALIASES:
            raise ValueError(f"attribution method name {name!r} is already registered")
    _REGISTRY[cls.name] = cls
    _ALIASES.update({alias: cls.name for alias in aliases})
    doc = (inspect.getdoc(cls) or "").split("\n", 1)[0]
    _FORMULAS[cls.name] = formula or getattr(cls, "formula", None) or doc


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


def options_of(cls: type[AttributionMethod]) -> tuple[Option, ...]:
    """The options a method class declares (see :mod:`nerlens.options`)."""
    return declared_options(cls)


def method_options(cls: type[AttributionMethod]) -> dict[str, Any]:
    """The options a method class takes, with their defaults."""
    return {option.name: option.default for option in options_of(cls)}


def describe_methods() -> list[MethodInfo]:
    """Every registered method with its aliases, formula, capabilities and options."""
    return [
        MethodInfo(
            name=name,
            aliases=tuple(sorted(a for a, target in _ALIASES.items() if target == name)),
            formula=_FORMULAS[name],
            capabilities=cls.capabilities,
            options=method_options(cls),
        )
        for name, cls in sorted(_REGISTRY.items())
    ]


def create_method(name: str, **options: Any) -> AttributionMethod:
    """Instantiate a registered method; an option it does not take raises with the valid ones."""
    cls = get_method_class(name)
    return cls(**check_method_options(cls.name, options_of(cls), options))


def resolve_method(
    method: str | AttributionMethod, options: Mapping[str, Any] | None = None
) -> AttributionMethod:
    """A method object from a registered name plus options, or a ready object (no options)."""
    if isinstance(method, AttributionMethod):
        if options:
            raise InputError(
                f"method options {sorted(options)} were given with a ready method object "
                f"{type(method).__name__}; configure the object instead"
            )
        return method
    if not isinstance(method, str):
        raise InputError(
            f"method must be a registered name ({available_methods()}) or an "
            f"AttributionMethod object, got {method!r}"
        )
    return create_method(method, **dict(options or {}))


register_method(
    IntegratedGradients,
    aliases=("ig", "lig"),
    formula=(
        "phi[t,i] = sum_h (e[i,h] - b[i,h]) * integral_0^1 df_t/de[i,h] at b + a(e - b) da  "
        "(e, b: attributed layer output at the input and at the baseline ids)"
    ),
)
register_method(GradientXInput, aliases=("gxi", "input_x_gradient"))
register_method(Saliency)
register_method(Occlusion)
register_method(ShapleySampling, aliases=("shapley",))
register_method(Lime)

__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_N_STEPS",
    "Attribution",
    "AttributionMethod",
    "Budget",
    "Capabilities",
    "GradientXInput",
    "IntegratedGradients",
    "Lime",
    "MethodInfo",
    "ModelInput",
    "Occlusion",
    "Saliency",
    "ShapleySampling",
    "available_methods",
    "create_method",
    "describe_methods",
    "get_method_class",
    "method_options",
    "options_of",
    "register_method",
    "resolve_method",
]
