"""The web app behind ``nerlens serve``: a page with the interactive view, and a JSON API.

The model is the one the operator passed to :func:`create_app`; no request field can choose,
load or read anything else (unknown fields are rejected). A body over ``max_body_bytes`` gets 413
before it is read whole; a request whose least cost (model rows × tokens, as its method counts
them) cannot run within the timeout at this server's measured speed gets 422 before any
attribution. Work runs in a small thread pool behind a bounded queue: a request that finds the
queue full gets 429 at once, and one that runs longer than the timeout gets 503 and is stopped at
its next model pass, so its worker is free again. Concurrent requests share the model safely
(see :mod:`nerlens.runner`) and give the results they give one at a time. Errors never echo
the request's input back.

The modules: :mod:`~nerlens.server.settings` (what the operator allows),
:mod:`~nerlens.server.schema` (the request bodies and the wording of their errors),
:mod:`~nerlens.server.admission` (whether and how a request's work runs) and
:mod:`~nerlens.server.app` (the routes, the answers and the page).
"""

from nerlens.server.app import create_app, web_page
from nerlens.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "web_page"]
