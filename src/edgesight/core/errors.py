"""The one exception tree of EdgeSight.

Callers catch :class:`EdgeSightError`; the CLI turns it into a one-line message and an exit code::

    EdgeSightError                 exit_code 1 (runtime)
    +-- ConfigError                exit_code 2 (bad config file, bad option, bad value)
    +-- SourceError                a video file, camera or stream that cannot be read
    |   +-- SourceEndedError       a stream ended and could not be reopened
    +-- ModelLoadError             a model package that is missing, tampered with or inconsistent
    |   +-- PackageTrustError      a well-formed package that is not trusted (``check`` names why)
    +-- SchemaError                metadata that does not match its versioned schema
    +-- StorageError               a database or disk that refuses a write

Every message names the thing that is wrong and, where it helps, the value and what was expected.
"""

from __future__ import annotations


class EdgeSightError(Exception):
    """Base class of every error EdgeSight raises on purpose."""

    exit_code = 1


class ConfigError(EdgeSightError):
    """A config key, CLI option or argument has a wrong value."""

    exit_code = 2


class SourceError(EdgeSightError):
    """A frame source (file, camera, stream) cannot be opened or read."""


class SourceEndedError(SourceError):
    """A live stream ended and every reconnection attempt failed."""


class ModelLoadError(EdgeSightError):
    """A model package is missing, tampered with, or does not match its network."""


class PackageTrustError(ModelLoadError):
    """A package is intact but not trusted; ``check`` names the check that refused it.

    Checks: ``unsigned``, ``signature`` (altered after signing), ``untrusted-key``, ``downgrade``,
    ``zoo-pin`` (a shipped package that differs from the sha256 the code pins).
    """

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


class SchemaError(EdgeSightError):
    """A metadata record does not match its schema (unknown version, missing field, bad value)."""


class StorageError(EdgeSightError):
    """Storage (database, disk) refused a write or read."""
