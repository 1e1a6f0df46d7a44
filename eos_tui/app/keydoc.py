"""`python -m eos_tui.app.keydoc > docs/keys.md`: every key (keys.py) as Markdown, for the docs.
A module of its own: `python -m eos_tui.app.keys` would run keys.py a second time (the package
imports it first)."""

from .keys import markdown

if __name__ == "__main__":
    print(markdown(), end="")
