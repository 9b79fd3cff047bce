"""The agent's heartbeat: how the device is doing, every ``heartbeat_s`` seconds."""

from __future__ import annotations

from edgesight.agent.feeds import FrameFeed
from edgesight.core.wire import Heartbeat

__all__ = ["HeartbeatClock"]


class HeartbeatClock:
    """Says when a heartbeat is due and makes it.

    Example:
        >>> clock = HeartbeatClock(10.0)
        >>> clock.due(now=5.0), clock.due(now=10.0)
        (False, True)
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.last = 0.0

    def due(self, now: float) -> bool:
        """``now``: the monotonic clock the beats are measured on."""
        return now - self.last >= self.interval_s

    def beat(self, feed: FrameFeed, uptime_s: float, outbox_pending: int, now: float) -> Heartbeat:
        """The heartbeat now (rounded as the hub shows it), and the clock restarted."""
        self.last = now
        return Heartbeat(
            fps=round(feed.fps(), 2),
            dnn_ms=round(feed.dnn_ms(), 2),
            model=feed.model,
            uptime_s=round(uptime_s, 1),
            outbox_pending=outbox_pending,
        )
