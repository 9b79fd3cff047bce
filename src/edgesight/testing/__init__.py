"""Fakes for tests, benchmarks and demos: a signing device, a synthetic feed, detections.

They make and read bytes only through :mod:`edgesight.core.wire`, like the real agent and hub.
"""

from __future__ import annotations

from edgesight.testing.detections import mock_detections
from edgesight.testing.fake_device import FakeDevice
from edgesight.testing.feeds import SyntheticFeed

__all__ = ["FakeDevice", "SyntheticFeed", "mock_detections"]
