"""The sharpness chart's actions (`n` normalized, `g` log scale, `h` focus on one arm, `m` event lines;
the keys themselves are in keys.py), as a mixin of the app, and how a scenario chooses the view the app opens on ([display])."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..rundir.parsing import loads_toml
from ..rundir.reader import read_scenario_text
from ..scenario.schema import DisplayConfig

if TYPE_CHECKING:
    from .view import View


def scenario_display(run_dir: str | os.PathLike[str]) -> DisplayConfig | None:
    """The run's [display] from its scenario.toml; the defaults where the file has none or a bad one
    (a run directory from elsewhere never stops the app); None while the file cannot be read yet."""
    text = read_scenario_text(run_dir)
    if text is None:
        return None
    try:
        data: Any = loads_toml(text)
        return DisplayConfig.model_validate(data.get("display", {}))
    except Exception:
        return DisplayConfig.model_validate({})


class ChartKeys:
    """Actions on the view's chart fields, and `action_toggle_view` for every on/off key; the app
    provides `view` and `view_changed`."""

    view: View

    def view_changed(self) -> None:  # pragma: no cover - the app's
        raise NotImplementedError

    def action_toggle_view(self, field: str) -> None:
        """Turn one of the view's on/off fields (a View attribute, named by the key's action in
        keys.py: `toggle_view('paused')`) over, and redraw."""
        setattr(self.view, field, not getattr(self.view, field))
        self.view_changed()
