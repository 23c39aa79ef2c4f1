"""Regenerate the README picture: `nerlens explain` on the demo model, as an SVG terminal shot."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from nerlens import Explainer, load_model
from nerlens.render import render_terminal

TEXT = "We visited Paris last weekend, where Emmanuel Macron lives."


def main() -> None:
    model, tokenizer = load_model("demo")
    explanation = Explainer(model, tokenizer, n_steps="auto")(TEXT)  # as the CLI does
    console = Console(record=True, width=110, file=io.StringIO())
    console.print(f'$ nerlens explain "{TEXT}"')
    console.print(render_terminal(explanation))
    out = Path(__file__).resolve().parent / "img" / "explain.svg"
    out.write_text(console.export_svg(title="nerlens explain"), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
