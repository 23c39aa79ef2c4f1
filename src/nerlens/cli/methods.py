"""``nerlens methods``: the registered attribution methods, their formulas and capabilities."""

from __future__ import annotations

from nerlens.cli.app import app, console


@app.command()
def methods() -> None:
    """List the registered attribution methods: formula, capabilities and options."""
    from nerlens.methods import describe_methods

    for info in describe_methods():
        aliases = f" (aliases: {', '.join(info.aliases)})" if info.aliases else ""
        flags = ", ".join(k for k, v in vars(info.capabilities).items() if v) or "-"
        options = ", ".join(f"{k}={v!r}" for k, v in info.options.items()) or "none"
        console.print(f"[bold]{info.name}[/bold]{aliases}", highlight=False)
        console.print(f"  {info.formula}", highlight=False, markup=False)
        console.print(f"  capabilities: {flags}", highlight=False)
        console.print(f"  options: {options}", highlight=False, markup=False)
