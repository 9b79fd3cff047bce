"""The ``analytics.stitch`` section: counters continue a lost track under the tracker's new id.

See :mod:`edgesight.apps.stitch` for the policy. The tracker's ids are never changed; only the
line and zone counters carry a lost track's state over to the new id that continues it.
"""

from __future__ import annotations

from pydantic import Field

from edgesight.core.config.base import HourSeconds, StrictSection

__all__ = ["StitchConfig"]


class StitchConfig(StrictSection):
    """When a new track id continues a lost one, for the line and zone counters.

    Example:
        >>> StitchConfig().window_s, StitchConfig(window_s=0).enabled
        (2.0, False)
    """

    window_s: HourSeconds = Field(
        2.0,
        description="a track unseen for at most this long can be continued by a new id; 0 turns stitching off",
    )
    radius: float = Field(
        0.5,
        ge=0.0,
        le=10.0,
        description="distance, in box heights, within which a new id continues a lost track ...",
    )
    radius_per_s: float = Field(
        0.5, ge=0.0, le=10.0, description="... plus this many box heights per second the track was lost"
    )

    min_similarity: float = Field(
        0.5,
        ge=-1.0,
        le=1.0,
        description="with the sensor's appearance vectors: a new id whose colours match a lost track's less "
        "than this (cosine) is someone else and does not continue it; -1 ignores appearance",
    )

    @property
    def enabled(self) -> bool:
        """Stitching is on (``window_s > 0``)."""
        return self.window_s > 0.0
