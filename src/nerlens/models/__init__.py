"""Model kinds: everything the engine needs to know about one family of models, in one place.

- :mod:`nerlens.models.base`: the contract (:class:`ModelKind`) every kind fulfils;
- :mod:`nerlens.models.registry`: the known kinds (:data:`KINDS`) and :func:`kind_of`;
- :mod:`nerlens.models.loading`: :func:`load_model` (demo, local directory, hub id);
- :mod:`nerlens.models.token_classifier`: the Hugging Face token classifier and its families'
  quirks, with :mod:`~nerlens.models.pipeline_entities` (the pipeline's entity grouping) and
  :mod:`~nerlens.models.demo` (the bundled demo tagger).

Names are imported on first use, so that ``load_model`` and ``hub_reachable`` stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nerlens.lazy import lazy_exports

if TYPE_CHECKING:
    from nerlens.models.base import ModelKind, ModelSource
    from nerlens.models.loading import DEMO, hub_reachable, load_model
    from nerlens.models.registry import KINDS, kind_of
    from nerlens.models.token_classifier import TokenClassifierKind

_EXPORTS = {
    "DEMO": "nerlens.models.loading",
    "KINDS": "nerlens.models.registry",
    "ModelKind": "nerlens.models.base",
    "ModelSource": "nerlens.models.base",
    "TokenClassifierKind": "nerlens.models.token_classifier",
    "hub_reachable": "nerlens.models.loading",
    "kind_of": "nerlens.models.registry",
    "load_model": "nerlens.models.loading",
}

__all__ = [
    "DEMO",
    "KINDS",
    "ModelKind",
    "ModelSource",
    "TokenClassifierKind",
    "hub_reachable",
    "kind_of",
    "load_model",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
