"""The region of interest: one normalised rectangle type for the config, the CLI and the sensor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgesight.core.errors import ConfigError

__all__ = ["Region"]

_EPS = 1e-9
"""Slack for ``x + w <= 1`` so that values like 0.7 + 0.3 pass despite float rounding."""


@dataclass(frozen=True, slots=True)
class Region:
    """A normalised rectangle on the full frame: ``x, y`` top-left, ``w, h`` size, all in 0..1.

    Raises:
        ConfigError: naming the value, if a coordinate is outside 0..1, the size is empty, or the
            rectangle reaches past the frame.

    Example:
        >>> Region(0.25, 0.0, 0.5, 1.0).x2
        0.75
        >>> Region(0.5, 0.0, 0.6, 1.0)
        Traceback (most recent call last):
        ...
        edgesight.core.errors.ConfigError: region x + w must be <= 1, got 0.5 + 0.6
    """

    x: float
    y: float
    w: float
    h: float

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"region {name} must be in 0..1, got {value}")
        if self.w <= 0.0 or self.h <= 0.0:
            raise ConfigError(f"region must not be empty, got w={self.w} h={self.h}")
        if self.x + self.w > 1.0 + _EPS:
            raise ConfigError(f"region x + w must be <= 1, got {self.x} + {self.w}")
        if self.y + self.h > 1.0 + _EPS:
            raise ConfigError(f"region y + h must be <= 1, got {self.y} + {self.h}")

    @classmethod
    def full(cls) -> Region:
        """The whole frame.

        Example:
            >>> Region.full()
            Region(x=0.0, y=0.0, w=1.0, h=1.0)
        """
        return cls(0.0, 0.0, 1.0, 1.0)

    @classmethod
    def from_xywh(cls, xywh: Region | Sequence[float] | None) -> Region:
        """A region from ``(x, y, w, h)``; None means the full frame.

        Example:
            >>> Region.from_xywh((0.1, 0.2, 0.3, 0.4)).h
            0.4
        """
        if xywh is None:
            return cls.full()
        if isinstance(xywh, Region):
            return xywh
        if len(xywh) != 4:
            raise ConfigError(f"region must be (x, y, w, h), got {tuple(xywh)}")
        x, y, w, h = (float(v) for v in xywh)
        return cls(x, y, w, h)

    def as_tuple(self) -> tuple[float, float, float, float]:
        """``(x, y, w, h)``, the form a config file and the wire use.

        Example:
            >>> Region(0.0, 0.2, 1.0, 0.8).as_tuple()
            (0.0, 0.2, 1.0, 0.8)
        """
        return (self.x, self.y, self.w, self.h)

    @property
    def x2(self) -> float:
        """Right edge."""
        return self.x + self.w

    @property
    def y2(self) -> float:
        """Bottom edge."""
        return self.y + self.h
