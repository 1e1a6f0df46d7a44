"""eos_tui.Monitor: sharpness against the stability threshold in any PyTorch training loop (docs/monitor.md).

Imports torch: `import eos_tui` stays light and loads this package only when eos_tui.Monitor is used.
"""

from .errors import MonitorError
from .monitor import Monitor

__all__ = ["Monitor", "MonitorError"]
