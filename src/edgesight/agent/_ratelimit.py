"""When a repeated problem is worth another log line (the counters keep the exact numbers)."""

from __future__ import annotations


def worth_logging(count: int) -> bool:
    """True for the 1st, 10th and 100th occurrence, then every 1000th.

    Example:
        >>> [n for n in range(1, 3001) if worth_logging(n)]
        [1, 10, 100, 1000, 2000, 3000]
    """
    return count in (1, 10, 100) or count % 1000 == 0
