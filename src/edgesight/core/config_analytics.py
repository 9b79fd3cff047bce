"""Analytics sections of the device config (zones, lines, apps). Placeholder until the apps land."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AnalyticsConfig(BaseModel):
    """Zones, lines and apps of a device."""

    model_config = ConfigDict(extra="forbid", frozen=True)
