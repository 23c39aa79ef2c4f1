"""Regenerate the README pictures from real output: the terminal view (SVG and PNG), the notebook
view (a save_html page) and the web app (`nerlens serve`), photographed with chromium.

    python docs/make_pictures.py        # needs nerlens[test] (playwright) and /usr/bin/chromium
"""

from __future__ import annotations

import io
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright
from rich.console import Console

from nerlens import Explainer, load_model
from nerlens.render import render_terminal
from nerlens.server import create_app

TEXT = "We visited Paris last weekend, where Emmanuel Macron lives."
IMG = Path(__file__).resolve().parent / "img"
CHROMIUM = os.environ.get("NERLENS_CHROMIUM", "/usr/bin/chromium")


def terminal_svg(explanation) -> Path:
    """`nerlens explain` as it looks in a terminal (the CLI's defaults: entity targets,
    n_steps="auto")."""
    console = Console(record=True, width=110, file=io.StringIO(), force_terminal=True)
    console.print(f'$ nerlens explain "{TEXT}"')
    console.print(render_terminal(explanation))
    out = IMG / "explain.svg"
    out.write_text(console.export_svg(title="nerlens explain"), encoding="utf-8")
    return out


def shoot(page: Page, selector: str, name: str) -> Path:
    out = IMG / name
    page.locator(selector).screenshot(path=out)
    return out


def serve_in_thread(app) -> tuple[uvicorn.Server, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.1)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    model, tokenizer = load_model("demo")
    explanation = Explainer(model, tokenizer, n_steps="auto")(TEXT, "entities")  # as the CLI
    written = [terminal_svg(explanation)]
    server, url = serve_in_thread(create_app(model, tokenizer))
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 900, "height": 600})

        page.goto(written[0].as_uri())
        written.append(shoot(page, "svg", "view-terminal.png"))

        page.goto(explanation.save_html(Path(tmp) / "view.html").as_uri())
        page.locator(".nl-tok", has_text="Paris").click()
        written.append(shoot(page, ".nerlens", "view-notebook.png"))

        page.goto(url)
        page.fill("textarea", "Angela Merkel met Joe Biden in Berlin.")
        page.get_by_role("button", name="Explain").click()
        page.locator(".nl-tok", has_text="Berlin").click()
        written.append(shoot(page, ".nl-app", "view-web.png"))
        browser.close()
    server.should_exit = True
    for path in written:
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
