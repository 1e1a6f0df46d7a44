"""The base of every panel: a bordered box with a title and a `help` text (posting style).

The help screen gathers each panel's `help`, so the explanation of what a panel shows lives next
to the code that draws it.
"""

from __future__ import annotations

from typing import ClassVar

from textual.containers import Vertical
from textual.visual import VisualType
from textual.widgets import Static

from ..model import RunModel
from ..view import View


class Panel(Vertical):
    DEFAULT_CSS = """
    Panel {
        border: round $primary 40%;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 0;
        height: 1fr;
    }
    Panel > .panel-message { display: none; width: 1fr; height: 1fr; content-align: center middle; color: $text-muted; }
    Panel.-empty > * { display: none; }
    Panel.-empty > .panel-message { display: block; }
    """
    TITLE: ClassVar[str] = ""
    help: ClassVar[str] = ""
    # What a chart panel waits for before its first point, in the line it shows meanwhile (empty.py).
    WAITING_FOR: ClassVar[str] = "data"

    def on_mount(self) -> None:
        self.border_title = self.TITLE

    _subtitle: str | None = None

    def set_subtitle(self, text: str) -> None:
        """Set the border subtitle (the legend) only when it changes: each set repaints the panel."""
        if text != self._subtitle:
            self._subtitle = text
            self.border_subtitle = text

    def show(self, model: RunModel, view: View) -> None:
        """Bring the panel up to date with the model (called by the app when data or view changed)."""

    def empty_reason(self, model: RunModel, view: View) -> str | None:
        """For a panel without charts: the line it shows in place of its content when it has nothing
        to draw, or None when it has (widgets/empty.py asks chart panels their charts instead)."""
        return None

    _message: str | None = None

    def show_message(self, text: str | None) -> None:
        """A centred line in place of the panel's content (None: the content again), e.g. what
        the engine is doing while a chart has no data (widgets/empty.py)."""
        if text == self._message:
            return
        self._message = text
        found = self.query(".panel-message")
        if found:
            found.first(Static).update(text or "")
        elif text is not None:
            self.mount(Static(text, classes="panel-message"))
        self.set_class(text is not None, "-empty")


class Text(Static):
    """A Static that repaints only when its text actually changes (fewer bytes over SSH)."""

    DEFAULT_CSS = "Text { height: auto; }"
    _last: object = None
    _lines: int = 0

    def set(self, content: VisualType, key: object = None, lines: int | None = None) -> None:
        """Show `content` unless `key` (default: the content) is unchanged. A layout pass (which
        repaints much of the screen) is asked for only when the number of lines changes: `lines`
        as the caller counts them, else the lines the text wraps to in the widget's width."""
        key = content if key is None else key
        if key == self._last:
            return
        self._last = key
        if lines is not None:
            self.update(content, layout=lines != self._lines or lines < 0)
            self._lines = lines
            return
        # Counting newlines is not enough: a line longer than the width wraps, and a Text whose
        # first line was short kept its one-line height when a longer line came (the reparameterization
        # panel's "no checks in this run (measure.reparam_every)" lost its second line whenever a
        # frame was drawn before the run's end was read, i.e. on a loaded machine).
        width, height = self.content_size
        self.update(content, layout=False)
        if not self.is_mounted or not width or self.get_content_height(self.size, self.size, width) != height:
            self.refresh(layout=True)
        self._lines = -1
