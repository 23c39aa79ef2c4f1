"""nerlens: explain why a token-classification model labelled each token."""

from __future__ import annotations

__version__ = "0.1.0"

from nerlens.compat import TokenClassificationExplainer  # noqa: E402
from nerlens.errors import InputError, ModelLoadError, TextTooLongError  # noqa: E402
from nerlens.explainer import Explainer  # noqa: E402
from nerlens.explanation import Explanation  # noqa: E402
from nerlens.methods import available_methods, register_method  # noqa: E402
from nerlens.models import load_model  # noqa: E402
from nerlens.targets import ContrastTarget, EntityTarget, TokenTarget  # noqa: E402

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
    "load_model",
    "register_method",
]
