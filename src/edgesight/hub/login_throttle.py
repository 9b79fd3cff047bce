"""Rate limiting of failed logins on the HTTP API, per client address.

A client that presents ``limit`` wrong tokens within ``window_s`` is answered 429 (with
``Retry-After``) until its oldest failure is older than the window, whatever it sends meanwhile:
guessing a 256-bit token was already hopeless, this keeps a brute force from loading the
database and the logs. Only wrong credentials count; a request without any is a plain 401.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Sliding-window count of failed logins per client (thread-safe, bounded memory).

    Args:
        limit: failures allowed per window.
        window_s: the window.
        max_clients: clients remembered; the least recently failing are forgotten first.
        clock: monotonic seconds (tests may pass their own).

    Example:
        >>> now = [0.0]
        >>> throttle = LoginThrottle(limit=2, window_s=60, clock=lambda: now[0])
        >>> throttle.record_failure("10.0.0.9"); throttle.retry_after("10.0.0.9")
        >>> throttle.record_failure("10.0.0.9"); throttle.retry_after("10.0.0.9")
        60
        >>> now[0] = 59.5; throttle.retry_after("10.0.0.9"), throttle.retry_after("10.0.0.8")
        (1, None)
        >>> now[0] = 60.0; throttle.retry_after("10.0.0.9")
    """

    def __init__(
        self, limit: int, window_s: float = 60.0, max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str) -> int | None:
        """Whole seconds ``client`` must wait before trying again, None if it may try now."""
        with self._lock:
            now = self._clock()
            times = self._recent(client, now)
            if times is None or len(times) < self.limit:
                return None
            return max(1, math.ceil(times[0] + self.window_s - now))

    def record_failure(self, client: str) -> None:
        """Count one failed login of ``client``."""
        with self._lock:
            now = self._clock()
            times = self._recent(client, now) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[client] = times
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
