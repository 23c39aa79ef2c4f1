"""nerlens: explain why a token-classification model labelled each token."""

from __future__ import annotations

__version__ = "0.1.0"

from nerlens.compat import TokenClassificationExplainer
from nerlens.errors import InputError, ModelLoadError, TextTooLongError
from nerlens.explainer import Explainer
from nerlens.explanation import Explanation
from nerlens.faithfulness import compare_methods
from nerlens.methods import available_methods, register_method
from nerlens.models import load_model
from nerlens.targets import ContrastTarget, EntityTarget, TokenTarget

__all__ = [
    "ContrastTarget",
    "EntityTarget",
    "Explainer",
    "Explanation",
    "InputError",
    "ModelLoadError",
    "TextTooLongError",
    "TokenClassificationExplainer",
    "TokenTarget",
    "__version__",
    "available_methods",
    "compare_methods",
    "load_model",
    "register_method",
]
