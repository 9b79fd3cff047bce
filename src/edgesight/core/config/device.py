"""The whole device config: identity, the ``sensor`` section and the ``analytics`` section."""

from __future__ import annotations

from pydantic import Field

from edgesight.core.config.analytics import AnalyticsConfig
from edgesight.core.config.base import StrictSection
from edgesight.core.config.model_trust import TrustSettings
from edgesight.core.config.sensor import SensorSection

__all__ = ["DeviceConfig"]


class DeviceConfig(StrictSection):
    """A whole device: identity, sensor and the analytics apps that turn metadata into events.

    Example:
        >>> DeviceConfig.model_validate({"device_id": "cam-1", "sensor": {"roi": [0, 0.2, 1, 0.8]}}).sensor.roi
        Region(x=0.0, y=0.2, w=1.0, h=0.8)
    """

    schema_version: int = Field(1, ge=1, le=1)
    device_id: str = Field("edgesight-0", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    stream_id: str = Field("main", min_length=1, max_length=64)
    sensor: SensorSection = Field(default_factory=SensorSection)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    # Top level, not under sensor: a desired twin overrides sensor keys, and must not loosen trust.
    model_trust: TrustSettings = Field(default_factory=TrustSettings, description="which model packages to accept")
