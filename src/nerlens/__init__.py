"""nerlens: explain why a token-classification model (or GLiNER) labelled each token or span.

The top-level names are imported on first use (PEP 562), so that ``import nerlens`` and the
``nerlens`` command start without loading torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nerlens.lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nerlens.comparison import compare_methods
    from nerlens.compat import TokenClassificationExplainer
    from nerlens.errors import ConvergenceWarning, InputError, ModelLoadError, TextTooLongError
    from nerlens.explainer import Explainer
    from nerlens.explanation import Explanation
    from nerlens.methods import available_methods, register_method
    from nerlens.models.loading import load_model
    from nerlens.targets import ContrastTarget, EntityTarget, SpanTarget, TokenTarget

_EXPORTS = {
    "ContrastTarget": "nerlens.targets",
    "ConvergenceWarning": "nerlens.errors",
    "EntityTarget": "nerlens.targets",
    "Explainer": "nerlens.explainer",
    "Explanation": "nerlens.explanation",
    "InputError": "nerlens.errors",
    "ModelLoadError": "nerlens.errors",
    "SpanTarget": "nerlens.targets",
    "TextTooLongError": "nerlens.errors",
    "TokenClassificationExplainer": "nerlens.compat",
    "TokenTarget": "nerlens.targets",
    "available_methods": "nerlens.methods",
    "compare_methods": "nerlens.comparison",
    "load_model": "nerlens.models.loading",
    "register_method": "nerlens.methods",
}

__all__ = [
    "ContrastTarget",
    "ConvergenceWarning",
    "EntityTarget",
    "Explainer",
    "Explanation",
    "InputError",
    "ModelLoadError",
    "SpanTarget",
    "TextTooLongError",
    "TokenClassificationExplainer",
    "TokenTarget",
    "__version__",
    "available_methods",
    "compare_methods",
    "load_model",
    "register_method",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
