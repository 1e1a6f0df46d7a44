"""The panels of the main screen, each with a `help` text for the help screen."""

from .eigendirection import EigendirectionPanel  # noqa: F401
from .events import EventsPanel  # noqa: F401
from .header import RunHeader  # noqa: F401
from .loss import LossPanel  # noqa: F401
from .reparam import ReparamPanel  # noqa: F401
from .sharpness import SharpnessPanel  # noqa: F401
