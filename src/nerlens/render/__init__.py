"""Renderers: pure functions of an Explanation (HTML, terminal). They never compute attributions."""

from nerlens.render.html import HtmlPage, render_html
from nerlens.render.terminal import render_terminal

__all__ = ["HtmlPage", "render_html", "render_terminal"]
