"""``python -m nerlens.cli``: the same as the ``nerlens`` command."""

from nerlens.cli import main

main()
