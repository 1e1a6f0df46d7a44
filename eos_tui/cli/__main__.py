"""`python -m eos_tui.cli`: the same as the `eos-tui` command."""

from . import main

main()
