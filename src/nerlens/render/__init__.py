"""Renderers: pure functions of an Explanation (HTML, terminal, plots). They never compute
attributions. Plots live in :mod:`nerlens.render.plot` (it needs matplotlib)."""

from nerlens.render._common import display_token
from nerlens.render.html import HtmlPage, render_html
from nerlens.render.interactive import render_interactive
from nerlens.render.terminal import render_terminal

__all__ = ["HtmlPage", "display_token", "render_html", "render_interactive", "render_terminal"]
