"""`python -m eos_tui`: the same as the `eos-tui` command."""

from .cli import main

main()
