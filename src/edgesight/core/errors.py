"""The one exception tree of EdgeSight.

Callers catch :class:`EdgeSightError`; the CLI turns it into a one-line message and an exit code
(:class:`~edgesight.core.exit_codes.ExitCode`)::

    EdgeSightError                 ExitCode.FAILURE (1, runtime)
    +-- ConfigError                ExitCode.USAGE (2: bad config file, bad option, bad value)
    +-- SourceError                a video file, camera or stream that cannot be read
    |   +-- SourceEndedError       a stream ended and could not be reopened
    +-- ModelLoadError             a model package that is missing, tampered with or inconsistent
    |   +-- PackageTrustError      a well-formed package that is not trusted (``check`` names why)
    +-- SchemaError                metadata that does not match its versioned schema
    |   +-- UnsupportedVersionError  a message or record of a version this reader does not know
    +-- StorageError               a database or disk that refuses a write
    +-- InputError                 data an app cannot use (untracked detections, time going backwards)

Every message names the thing that is wrong and, where it helps, the value and what was expected.
"""

from __future__ import annotations

from edgesight.core.exit_codes import ExitCode

__all__ = [
    "ConfigError",
    "EdgeSightError",
    "InputError",
    "ModelLoadError",
    "PackageTrustError",
    "SchemaError",
    "SourceEndedError",
    "SourceError",
    "StorageError",
    "UnsupportedVersionError",
]


class EdgeSightError(Exception):
    """Base class of every error EdgeSight raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURE


class ConfigError(EdgeSightError):
    """A config key, CLI option or argument has a wrong value."""

    exit_code = ExitCode.USAGE


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


class UnsupportedVersionError(SchemaError):
    """A message or record of a version this reader does not know (newer, or never defined).

    ``what`` names the message kind (``heartbeat``, ``frame batch``, ...) and ``version`` the
    version it claims, so that a receiver can count refusals by kind.

    Example:
        >>> err = UnsupportedVersionError("heartbeat: unsupported version 2", what="heartbeat", version=2)
        >>> isinstance(err, SchemaError), err.what, err.version
        (True, 'heartbeat', 2)
    """

    def __init__(self, message: str, *, what: str, version: object) -> None:
        super().__init__(message)
        self.what = what
        self.version = version


class InputError(EdgeSightError):
    """An app or estimator was fed data it cannot use: detections without track ids, a timestamp
    earlier than the previous one, a reading that is not finite."""
