"""The exit codes of the ``edgesight`` command line, all in one place.

The CLI exits with the :attr:`~edgesight.core.errors.EdgeSightError.exit_code` of the error it
caught, or with a code below for an outcome that is not an error. README's "Exit codes" table
lists the same values.

Example:
    >>> from edgesight.core.errors import ConfigError
    >>> ConfigError("x").exit_code is ExitCode.USAGE, int(ExitCode.NOT_DRAINED)
    (True, 3)
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    """Why ``edgesight`` stopped."""

    OK = 0
    """The command did what it was asked."""
    FAILURE = 1
    """A runtime error: a source, model, schema or storage that failed (``EdgeSightError``)."""
    USAGE = 2
    """A bad option, argument or config value (``ConfigError``, and the option parser's own errors)."""
    NOT_DRAINED = 3
    """``edgesight agent``: sensing ended but some messages were still unacknowledged by the hub
    after ``--drain-timeout`` (they stay in the outbox and are sent on the next start)."""
