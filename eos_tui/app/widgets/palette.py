"""The app's colours, in one place: every colour is named here by its role, and the widgets use
the names (a test checks that no other file in eos_tui/app spells a colour). Change a role here and
it changes everywhere. Also the symbols shared by the panels: one letter per event kind."""

from __future__ import annotations

# Roles. Arm colours (ARM_COLORS) come first among what the eye follows; the rest support them.
MUTED = "#a0a0a0"  # secondary text: units, the device, the run name, axes and tick labels
REFERENCE = "#808080"  # a horizontal reference line, by default
ZERO_LINE = "#606060"  # the y = 0 line under ⟨∇L, u⟩
THEORY_COLOR = "#e8e8e8"  # closed-form predictions, drawn dotted beside what was measured
EVENT_DEFAULT = "#d0a040"  # an event of a kind the app does not know
FADE_TOWARDS = "#000000"  # fainter traces (the next eigenvalues) are blended towards this
BLUE = "#4ea1ff"
ORANGE = "#ff9f43"
GREEN = "#2ecc71"
MAGENTA = "#e056fd"
YELLOW = "#f5d142"
CYAN = "#48dbfb"
RED = "#ff5555"
PINK = "#ff79c6"
PURPLE = "#bd93f9"
AT_THRESHOLD = YELLOW  # λ_max·η/2 close to 1
PERIOD2 = PURPLE  # the period-2 oscillation, in the eigendirection panel and its events
INVARIANT = GREEN  # adaptive sharpness: the quantity a reparameterization leaves unchanged

# Damian et al.'s four stages of self-stabilization (widgets/portrait.py), by the engine's names.
STAGE_NAMES = {
    "sharpening": "progressive sharpening",
    "blow-up": "blow-up",
    "stabilizing": "self-stabilization",
    "returning": "return to stability",
}
STAGE_COLORS = {"sharpening": GREEN, "blow-up": RED, "stabilizing": ORANGE, "returning": CYAN}

ARM_COLORS = (BLUE, ORANGE, GREEN, MAGENTA, YELLOW, CYAN)
THRESHOLD_LABEL = "2/η_t"

EVENT_LETTERS = {"eos_onset": "E", "diverged": "X", "lr_change": "η", "catapult": "C", "period2_onset": "2", "unstable_start": "!"}
EVENT_NAMES = {
    "eos_onset": "EoS onset",
    "diverged": "diverged",
    "lr_change": "η change",
    "catapult": "catapult",
    "period2_onset": "period-2",
    "unstable_start": "above its threshold",  # events.event_name names the arm's own: "above 38/η"
}
EVENT_COLORS = {
    "eos_onset": YELLOW,
    "diverged": RED,
    "lr_change": CYAN,
    "catapult": PINK,
    "period2_onset": PERIOD2,
    "unstable_start": ORANGE,
}

STATUS_COLORS = {
    "running": GREEN,
    "completed": BLUE,
    "diverged": RED,
    "interrupted": YELLOW,
    "failed": RED,
    "engine lost": RED,
    "paused view": YELLOW,
    "starting": MUTED,
    "unknown": MUTED,
}
# An arm's status as one character, where the header has no room for the word.
STATUS_MARKS = {"completed": "✓", "diverged": "✗", "failed": "✗", "interrupted": "■", "engine lost": "?"}


def arm_color(index: int) -> str:
    return ARM_COLORS[index % len(ARM_COLORS)]


def status_color(status: str) -> str:
    return STATUS_COLORS.get(status, MUTED)


def event_color(kind: str) -> str:
    return EVENT_COLORS.get(kind, EVENT_DEFAULT)
