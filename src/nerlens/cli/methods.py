"""``nerlens methods``: the registered attribution methods and what they can do."""

from __future__ import annotations

from nerlens.cli.app import app, console


@app.command()
def methods() -> None:
    """List the registered attribution methods and their capabilities."""
    from nerlens.methods import available_methods, get_method_class

    for name in available_methods():
        caps = get_method_class(name).capabilities
        flags = ", ".join(k for k, v in vars(caps).items() if v)
        console.print(f"[bold]{name}[/bold]  {flags}")
