"""The web app behind ``nerlens serve`` (moved to :mod:`nerlens.server.app`, split next)."""

from nerlens.server.app import ServerSettings, create_app, web_page

__all__ = ["ServerSettings", "create_app", "web_page"]
