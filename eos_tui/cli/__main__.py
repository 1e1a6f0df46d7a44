"""`python -m eos_tui.cli`: the same as the `eos-tui` command."""

from .commands import main

main()
