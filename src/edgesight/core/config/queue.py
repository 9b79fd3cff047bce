"""The ``analytics.apps.queues`` section: checkout queues (live wait, counters to open).

What needs the rest of the config (zone and line names, the entry direction) is checked by
:func:`edgesight.core.config.checks.check_apps_references`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from edgesight.core.config.base import (
    HourSeconds,
    IntervalSeconds,
    Name,
    PositiveSeconds,
    Seconds,
    StrictSection,
)

__all__ = ["CounterConfig", "QueueAppConfig", "check_queue_targets"]


def check_queue_targets(q: QueueAppConfig) -> None:
    """A wait target, a consistent counter range and AHT window, and staff, service and queue zones apart."""
    if q.target_mean_wait_s is None and q.target_service_level is None:
        raise ValueError(
            f"queue {q.name!r}: set target_mean_wait_s and/or target_service_level (with target_s), "
            "got neither"
        )
    if q.target_service_level is not None and q.target_s is None:
        raise ValueError(
            f"queue {q.name!r}: target_service_level={q.target_service_level} needs target_s "
            "(the acceptable wait, s), got none"
        )
    if q.min_counters > q.max_counters:
        raise ValueError(
            f"queue {q.name!r}: min_counters={q.min_counters} must be <= max_counters={q.max_counters}"
        )
    if q.measure_aht and q.service_zone is None:
        raise ValueError(f"queue {q.name!r}: measure_aht=true needs service_zone, got none")
    if q.aht_min_dwell_s >= q.aht_max_dwell_s:
        raise ValueError(
            f"queue {q.name!r}: aht_min_dwell_s={q.aht_min_dwell_s} must be < "
            f"aht_max_dwell_s={q.aht_max_dwell_s}"
        )
    for i, counter in enumerate(q.counters):
        if counter.staff_zone == q.queue_zone:
            raise ValueError(
                f"queue {q.name!r}: counters[{i}].staff_zone must differ from queue_zone, "
                f"both are {q.queue_zone!r} (customers would open the counter)"
            )
    if q.service_zone is not None and q.service_zone == q.queue_zone:
        raise ValueError(
            f"queue {q.name!r}: service_zone and queue_zone must differ, both are {q.queue_zone!r}"
        )


class CounterConfig(StrictSection):
    """A checkout counter: open while someone stands in its staff zone (behind the till)."""

    name: Name = Field(description="the counter's name, listed in open_counter_names")
    staff_zone: Name = Field(description="zone where the cashier stands; occupied means the counter is open")


class QueueAppConfig(StrictSection):
    """A checkout queue: live wait (Little's law) and counters to open (Erlang C)."""

    name: Name = Field(description="the queue's name, the rule of its queue_advice events")
    queue_zone: Name = Field(description="zone where people wait (its count is the queue length)")
    entry_line: Name = Field(description="line crossed by people joining the queue (the arrival rate)")
    entry_direction: Name = Field(
        "in",
        description="direction name of entry_line that means 'joins the queue' (the line's in/out names)",
    )
    service_zone: Name | None = Field(
        None, description="zone at the counters; its dwell times measure the service time (measure_aht)"
    )
    aht_s: IntervalSeconds = Field(180.0, description="mean service time per customer, s")
    measure_aht: bool = Field(
        False, description="use the mean dwell in service_zone instead of aht_s once aht_min_samples exist"
    )
    aht_min_samples: int = Field(
        20, ge=1, le=10000, description="dwells needed before the measured AHT is used"
    )
    aht_min_dwell_s: HourSeconds = Field(5.0, description="shorter dwells (walking past) are ignored")
    aht_max_dwell_s: PositiveSeconds = Field(1800.0, description="longer dwells (staff) are ignored")
    target_mean_wait_s: HourSeconds | None = Field(None, description="maximum mean wait, s")
    target_service_level: float | None = Field(
        None, gt=0.0, lt=1.0, description="minimum fraction served within target_s"
    )
    target_s: HourSeconds | None = Field(None, description="acceptable wait of the service-level target, s")
    min_counters: int = Field(1, ge=1, le=1000, description="never advise fewer counters")
    max_counters: int = Field(20, ge=1, le=1000, description="counters the site can open")
    rate_window_s: PositiveSeconds = Field(
        900.0, description="arrival rate (and measured AHT) over this window, s"
    )
    warmup_s: Seconds = Field(300.0, description="observe this long before the first advice, s")
    advice_interval_s: PositiveSeconds = Field(60.0, description="how often advice is recomputed, s")
    min_hold_s: Seconds = Field(
        300.0, description="an advised count stays at least this long before changing, s"
    )
    counters: list[CounterConfig] = Field(
        default_factory=list,
        max_length=1000,
        description="counters whose staff zones tell how many are open (open_counters); none: not measured",
    )
    open_hold_s: Seconds = Field(
        30.0, description="a counter stays open this long after its staff zone empties (a cashier steps away), s"
    )
    status_interval_s: PositiveSeconds | None = Field(
        None,
        description="also send the current figures every this many s (trigger interval)",
    )

    @model_validator(mode="after")
    def _check(self) -> QueueAppConfig:
        check_queue_targets(self)
        return self
