"""The one error the commands of this package raise for bad input: the CLI prints it as one line
and exits with `code` (2: bad usage or a bad run directory)."""

from __future__ import annotations

from .exit import ExitCode


class CommandError(Exception):
    def __init__(self, message: str, code: int = ExitCode.USAGE):
        super().__init__(message)
        self.code = code


def missing_extra(package: str, extra: str, what: str) -> CommandError:
    from .extras import missing_extra_message  # the install command that fits this install

    return CommandError(missing_extra_message(package, extra, what))
