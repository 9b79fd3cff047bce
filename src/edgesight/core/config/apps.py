"""The ``analytics.apps`` section: queue staffing, shelf restock and safety rules.

Each app section checks what it can see on its own; what needs the rest of the analytics config
(zone and line names, class names against the model's labels, calibration, tracking) is checked by
:mod:`edgesight.core.config.checks`, whose messages name the full key, e.g.
``analytics.apps.queues[0].queue_zone: no zone named 'tills'; zones are: 'queue', 'till'``.

Example:
    >>> apps = AppsConfig.model_validate({
    ...     "queues": [{"name": "checkout", "queue_zone": "queue", "entry_line": "queue_entry",
    ...                 "aht_s": 180, "target_mean_wait_s": 10}],
    ...     "safety": {"danger_zones": [{"name": "dock", "zone": [[0, 0], [1, 0], [1, 0.2]],
    ...                                  "allowed_classes": ["truck"], "severity": "critical"}]},
    ... })
    >>> apps.queues[0].entry_direction, apps.safety.danger_zones[0].severity.value
    ('in', 'critical')
"""

from __future__ import annotations

from pydantic import Field, model_validator

from edgesight.core.config.base import StrictSection
from edgesight.core.config.checks import check_unique_names
from edgesight.core.config.queue import QueueAppConfig
from edgesight.core.config.safety import SafetyAppConfig
from edgesight.core.config.shelf import ShelfAppConfig

__all__ = ["AppsConfig"]


class AppsConfig(StrictSection):
    """Application rules that turn zone, line and track state into business events."""

    queues: list[QueueAppConfig] = Field(default_factory=list, max_length=16, description="checkout queues")
    shelf: ShelfAppConfig | None = Field(None, description="shelf restock alerts")
    safety: SafetyAppConfig | None = Field(None, description="danger zones and proximity hazards")

    @model_validator(mode="after")
    def check_queue_names(self) -> AppsConfig:
        check_unique_names([q.name for q in self.queues], "queues")
        return self
