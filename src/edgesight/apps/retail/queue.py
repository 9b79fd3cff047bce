"""The queue app: from a queue zone and an entry line to "open N counters" (``queue_advice`` events).

The engine already keeps zone membership and counts line crossings, so the app does no geometry.
Each frame it is given the frame's events and the committed member count of every zone
(``update(events, zone_counts, frame)``) and

1. feeds each ``line_crossing`` of ``entry_line`` in ``entry_direction`` to an
   :class:`~edgesight.apps.retail.staffing.ArrivalRateEstimator` over ``rate_window_s`` (the arrival rate λ);
2. takes the queue length L as the count of ``queue_zone`` and the live wait as ``W = L / λ``
   (Little's law);
3. optionally measures the mean service time (AHT) as the mean dwell of completed visits to
   ``service_zone`` (``zone_exit`` events, not lost, within ``aht_min_dwell_s..aht_max_dwell_s``,
   over ``rate_window_s``) once ``aht_min_samples`` of them exist; the configured ``aht_s`` otherwise;
4. every ``advice_interval_s`` (after ``warmup_s``) recomputes the smallest number of counters
   meeting the target by Erlang C (:func:`~edgesight.apps.retail.staffing.recommend_counters`), bounded by
   ``min_counters..max_counters``.

A ``queue_advice`` event (trigger ``event``) is sent when the advised number of counters changes,
but no sooner than ``min_hold_s`` after the previous change, so a rate hovering at a boundary
does not make the advice flap; the first advice is always sent (``previous_counters: null``). With
``status_interval_s`` the current figures are also sent periodically (trigger ``interval``).

With ``counters`` configured, each event also tells which counters are open now (``open_counters``,
``open_counter_names``), so the advice can be compared with reality: a counter is open while its
``staff_zone`` has a member, and for ``open_hold_s`` after it empties (a cashier stepping away
briefly does not close it). Without counters both properties are null.

State is bounded: arrival times and service dwells inside one window (at most ``MAX_SAMPLES``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgesight.apps.retail.staffing import (
    ArrivalRateEstimator,
    littles_law_wait_s,
    mean_wait_s,
    recommend_counters,
    service_level,
)
from edgesight.core.config import QueueAppConfig
from edgesight.core.errors import InputError
from edgesight.core.events import Event, EventType, FrameLike, Trigger

__all__ = ["MAX_SAMPLES", "QueueApp", "QueueStatus"]

MAX_SAMPLES = 10_000
"""Most service dwells kept for the measured AHT (older ones are dropped first)."""


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """The queue's figures at one advice time.

    Attributes:
        timestamp: when they were computed, Unix seconds.
        queue_length: people in the queue zone (L).
        arrivals_per_s: arrival rate over the window (λ).
        wait_s: live wait by Little's law, ``L / λ``; None when people wait and nobody arrives.
        aht_s: mean service time used, s.
        aht_measured: ``aht_s`` is the measured mean dwell in the service zone.
        counters: counters to open: the advice in force (the last one sent).
        recommended_counters: what Erlang C recommends now; differs from ``counters`` while a
            change is held back by ``min_hold_s``.
        mean_wait_s: Erlang C mean wait with ``counters`` open; None when the queue is unstable.
        service_level: Erlang C fraction served within ``target_s`` with ``counters`` open; None
            without ``target_s``.
        target_met: ``counters`` meets the target (False, e.g., when even ``max_counters`` does not).
    """

    timestamp: float
    queue_length: int
    arrivals_per_s: float
    wait_s: float | None
    aht_s: float
    aht_measured: bool
    counters: int
    recommended_counters: int
    mean_wait_s: float | None
    service_level: float | None
    target_met: bool


def _finite(value: float, ndigits: int) -> float | None:
    return round(value, ndigits) if math.isfinite(value) else None


class QueueApp:
    """Staffing advice for one queue: ``update(events, zone_counts, frame) -> list[Event]``.

    Args:
        config: the queue's rule (zone and line names already checked against the analytics config).

    Example:
        Fed directly with synthetic crossings, 100 per 30 min with a 3 min service time (the field
        guide's example), the advice for a 10 s mean wait is 14 counters:

        >>> from edgesight.core.events import FrameContext
        >>> cfg = QueueAppConfig(name="checkout", queue_zone="queue", entry_line="entry", aht_s=180,
        ...                      target_mean_wait_s=10, rate_window_s=1800, warmup_s=1800,
        ...                      max_counters=30)
        >>> app = QueueApp(cfg)
        >>> def crossing(ctx):
        ...     return Event.create(EventType.LINE_CROSSING, ctx, "entry", track_ids=(1,),
        ...                         class_name="person", direction="in", status="CrossRight",
        ...                         crossed_frame_index=ctx.frame_index, point=[0.5, 0.5])
        >>> out = []
        >>> for k in range(1801):
        ...     ctx = FrameContext("cam", "main", k, float(k), (640, 480))
        ...     events = [crossing(ctx)] if k % 18 == 17 else []
        ...     out += app.update(events, {"queue": 4}, ctx)
        >>> [(e.properties["counters"], e.properties["arrivals_per_min"]) for e in out]
        [(14, 3.333)]
    """

    def __init__(self, config: QueueAppConfig) -> None:
        self.config = config
        self._rate: ArrivalRateEstimator | None = None
        self._dwells: deque[tuple[float, float]] = deque(maxlen=MAX_SAMPLES)
        self._start = math.inf  # time of the first frame
        self._last_advice_ts = -math.inf
        self._last_change_ts = -math.inf
        self._last_status_ts = -math.inf
        self._last_ts = -math.inf
        self._counters: int | None = None
        self._status: QueueStatus | None = None
        self._staffed_at: dict[str, float] = {}  # counter name -> last time its staff zone had a member

    @property
    def status(self) -> QueueStatus | None:
        """The figures of the latest advice, or None before the first one."""
        return self._status

    @property
    def counters(self) -> int | None:
        """The counters currently advised (the last one sent), or None before the first advice."""
        return self._counters

    @property
    def open_counters(self) -> tuple[str, ...] | None:
        """Names of the counters open at the latest frame (config order), or None without ``counters``."""
        cfg = self.config
        if not cfg.counters:
            return None
        staffed_at, now = self._staffed_at, self._last_ts
        return tuple(c.name for c in cfg.counters if now - staffed_at.get(c.name, -math.inf) <= cfg.open_hold_s)

    def update(
        self, events: Sequence[Event], zone_counts: Mapping[str, int], frame: FrameLike
    ) -> list[Event]:
        """Take one frame's zone and line outcome; return ``queue_advice`` events decided on it.

        Args:
            events: this frame's events from the zones and lines (others are ignored).
            zone_counts: committed members of each zone now, by zone name (needs ``queue_zone`` and
                each counter's ``staff_zone``).
            frame: the frame (time, index, ids).

        Returns:
            Zero, one or two ``queue_advice`` events: a change of advice and/or a periodic status.

        Raises:
            InputError: ``zone_counts`` lacks the queue zone or a counter's staff zone, or time goes
                backwards.
        """
        cfg, ts = self.config, frame.timestamp
        for zone in (cfg.queue_zone, *(c.staff_zone for c in cfg.counters)):
            if zone not in zone_counts:
                raise InputError(
                    f"QueueApp.update: zone_counts has no {zone!r} (queue {cfg.name!r}), "
                    f"got {sorted(zone_counts)}"
                )
        self._last_ts = ts
        for counter in cfg.counters:
            if zone_counts[counter.staff_zone] > 0:
                self._staffed_at[counter.name] = ts
        rate = self._rate
        if rate is None:
            self._start = ts
            rate = self._rate = ArrivalRateEstimator(cfg.rate_window_s, start_s=ts)
        self._observe(events, rate, ts)
        out: list[Event] = []
        due = ts - self._start >= cfg.warmup_s and ts - self._last_advice_ts >= cfg.advice_interval_s
        if due:
            self._last_advice_ts = ts
            lam, queue_length = rate.rate(ts), int(zone_counts[cfg.queue_zone])
            recommended = self._recommend(lam)
            held = self._counters is not None and ts - self._last_change_ts < cfg.min_hold_s
            previous = self._counters
            if recommended != previous and not held:
                self._counters, self._last_change_ts = recommended, ts
            in_force = recommended if self._counters is None else self._counters
            self._status = self._compute(queue_length, lam, ts, in_force, recommended)
            if self._counters != previous:
                out.append(self._event(frame, Trigger.EVENT, self._status, previous))
        interval = cfg.status_interval_s
        if interval is not None and self._status is not None and ts - self._last_status_ts >= interval:
            self._last_status_ts = ts
            out.append(self._event(frame, Trigger.INTERVAL, self._status, None))
        return out

    def _observe(self, events: Sequence[Event], rate: ArrivalRateEstimator, ts: float) -> None:
        """Arrivals from entry-line crossings, service times from completed service-zone visits."""
        cfg = self.config
        for e in events:
            if (
                e.type is EventType.LINE_CROSSING
                and e.rule == cfg.entry_line
                and e.properties.get("direction") == cfg.entry_direction
            ):
                rate.add(ts)
            elif (
                cfg.service_zone is not None
                and e.type is EventType.ZONE_EXIT
                and e.rule == cfg.service_zone
                and not e.properties.get("lost", False)
            ):
                dwell_s = e.properties["dwell_ms"] / 1000.0
                if cfg.aht_min_dwell_s <= dwell_s <= cfg.aht_max_dwell_s:
                    self._dwells.append((ts, dwell_s))
        horizon = ts - cfg.rate_window_s
        while self._dwells and self._dwells[0][0] <= horizon:
            self._dwells.popleft()

    def _aht(self) -> tuple[float, bool]:
        cfg = self.config
        if cfg.measure_aht and len(self._dwells) >= cfg.aht_min_samples:
            return math.fsum(d for _, d in self._dwells) / len(self._dwells), True
        return cfg.aht_s, False

    def _meets(self, wait: float, sl: float) -> bool:
        cfg = self.config
        ok_wait = cfg.target_mean_wait_s is None or wait <= cfg.target_mean_wait_s
        ok_sl = cfg.target_service_level is None or sl >= cfg.target_service_level
        return ok_wait and ok_sl

    def _figures(self, c: int, lam: float, aht: float) -> tuple[float, float]:
        """(mean wait, service level at target_s or NaN) with ``c`` counters open."""
        t = self.config.target_s
        return mean_wait_s(c, lam, aht), (math.nan if t is None else service_level(c, lam, aht, t))

    def _recommend(self, lam: float) -> int:
        """Erlang C's smallest count meeting the target, within min_counters..max_counters."""
        cfg = self.config
        aht, _ = self._aht()
        if not self._meets(*self._figures(cfg.max_counters, lam, aht)):
            return cfg.max_counters  # out of reach: open everything (target_met says so)
        # waits fall and service levels rise with c, so some c <= max_counters meets the target
        advice = recommend_counters(
            lam, aht,
            target_mean_wait_s=cfg.target_mean_wait_s,
            target_service_level=cfg.target_service_level,
            target_s=cfg.target_s,
            max_counters=cfg.max_counters,
        )  # fmt: skip
        return max(advice.counters, cfg.min_counters)

    def _compute(
        self, queue_length: int, lam: float, ts: float, counters: int, recommended: int
    ) -> QueueStatus:
        """The figures with ``counters`` (the advice in force) open."""
        aht, measured = self._aht()
        wait, sl = self._figures(counters, lam, aht)
        return QueueStatus(
            timestamp=ts,
            queue_length=queue_length,
            arrivals_per_s=lam,
            wait_s=_finite(littles_law_wait_s(queue_length, lam), 1),
            aht_s=aht,
            aht_measured=measured,
            counters=counters,
            recommended_counters=recommended,
            mean_wait_s=_finite(wait, 2),
            service_level=None if math.isnan(sl) else round(sl, 4),
            target_met=self._meets(wait, sl),
        )

    def _event(self, frame: FrameLike, trigger: Trigger, s: QueueStatus, previous: int | None) -> Event:
        cfg = self.config
        props: dict[str, Any] = {
            "queue_length": s.queue_length,
            "arrivals_per_min": round(s.arrivals_per_s * 60.0, 3),
            "wait_s": s.wait_s,
            "counters": s.counters,
            "previous_counters": previous,
            "recommended_counters": s.recommended_counters,
            "mean_wait_s": s.mean_wait_s,
            "service_level": s.service_level,
            "target": {
                "mean_wait_s": cfg.target_mean_wait_s,
                "service_level": cfg.target_service_level,
                "target_s": cfg.target_s,
            },
            "target_met": s.target_met,
            "aht_s": round(s.aht_s, 1),
            "aht_source": "measured" if s.aht_measured else "configured",
            "traffic_erlang": round(s.arrivals_per_s * s.aht_s, 3),
            "window_s": cfg.rate_window_s,
        }
        open_names = self.open_counters
        props["open_counters"] = None if open_names is None else len(open_names)
        props["open_counter_names"] = None if open_names is None else list(open_names)
        return Event.create(EventType.QUEUE_ADVICE, frame, cfg.name, trigger=trigger, **props)
