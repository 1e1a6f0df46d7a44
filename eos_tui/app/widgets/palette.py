"""Colours and symbols shared by the panels: one colour per arm, one letter per event kind."""

from __future__ import annotations

ARM_COLORS = ("#4ea1ff", "#ff9f43", "#2ecc71", "#e056fd", "#f5d142", "#48dbfb")
THRESHOLD_LABEL = "2/η_t"
THEORY_COLOR = "#e8e8e8"  # closed-form predictions, drawn dotted beside what was measured

EVENT_LETTERS = {"eos_onset": "E", "diverged": "X", "lr_change": "η", "catapult": "C", "period2_onset": "2",
                 "unstable_start": "!"}
EVENT_NAMES = {"eos_onset": "EoS onset", "diverged": "diverged", "lr_change": "η change",
               "catapult": "catapult", "period2_onset": "period-2", "unstable_start": "above 2/η"}
EVENT_COLORS = {"eos_onset": "#f5d142", "diverged": "#ff5555", "lr_change": "#48dbfb",
                "catapult": "#ff79c6", "period2_onset": "#bd93f9", "unstable_start": "#ff9f43"}

STATUS_COLORS = {"running": "#2ecc71", "completed": "#4ea1ff", "diverged": "#ff5555",
                 "interrupted": "#f5d142", "failed": "#ff5555", "engine lost": "#ff5555",
                 "paused view": "#f5d142", "starting": "#a0a0a0", "unknown": "#a0a0a0"}
# An arm's status as one character, where the header has no room for the word.
STATUS_MARKS = {"completed": "✓", "diverged": "✗", "failed": "✗", "interrupted": "■", "engine lost": "?"}


def arm_color(index: int) -> str:
    return ARM_COLORS[index % len(ARM_COLORS)]
