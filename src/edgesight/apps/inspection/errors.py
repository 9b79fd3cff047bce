"""The one error type of inspection's bad input (exit code 2 in the CLI)."""

from __future__ import annotations

from edgesight.core.errors import ConfigError

__all__ = ["InspectionInputError"]


class InspectionInputError(ConfigError):
    """A good set, part image, mask, product name or threshold that inspection cannot use."""
