"""Per-product counts for the line: yield, and false rejects and escapes as reported back by the line."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ProductTally"]


@dataclass
class ProductTally:
    """Counts of one product since start.

    ``false_rejects`` (a rejected part the line found good) and ``escapes`` (a passed part found
    defective later) are known only from the line's feedback, so they are reported, not inferred.

    Example:
        >>> t = ProductTally("bracket")
        >>> for ok in (True, True, False, True): t.count(ok)
        >>> t.report_escape(); (t.inspected, t.rejected, t.yield_rate, t.escapes)
        (4, 1, 0.75, 1)
    """

    product: str
    inspected: int = 0
    passed: int = 0
    false_rejects: int = 0
    escapes: int = 0

    @property
    def rejected(self) -> int:
        """Parts rejected by inspection."""
        return self.inspected - self.passed

    @property
    def yield_rate(self) -> float:
        """Share of inspected parts that passed (0 before the first part)."""
        return self.passed / self.inspected if self.inspected else 0.0

    def count(self, passed: bool) -> None:
        """Count one inspected part."""
        self.inspected += 1
        self.passed += int(passed)

    def report_false_reject(self) -> None:
        """The line found a rejected part good."""
        self.false_rejects += 1

    def report_escape(self) -> None:
        """The line found a passed part defective."""
        self.escapes += 1
