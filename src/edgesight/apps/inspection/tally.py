"""Per-product counts for the line: yield, and false rejects and escapes as reported back by the line."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ProductTally", "tally_inspections"]


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
    threshold: float | None = None
    """The threshold of the latest part counted (None before the first)."""

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


def tally_inspections(events: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, ProductTally]:
    """Per-product counts from ``inspection`` events given as ``(device_id, properties)``, oldest first.

    An event without ``finding`` is one judged part. An event with ``finding`` is the line's later
    report about a part (see docs/events.md); the latest report per device, product and part id
    counts, so a repeated report is not counted twice.

    Example:
        >>> judged = lambda part, ok: ("cam", {"product": "p", "part_id": part, "passed": ok, "threshold": 1.0})
        >>> found = lambda part, ok, f: ("cam", {**judged(part, ok)[1], "finding": f})
        >>> t = tally_inspections([judged("a", True), judged("b", False), found("a", True, "defect"),
        ...                        found("b", False, "good"), found("b", False, "good")])["p"]
        >>> t.inspected, t.passed, t.escapes, t.false_rejects, t.threshold
        (2, 1, 1, 1, 1.0)
    """
    tallies: dict[str, ProductTally] = {}
    findings: dict[tuple[str, str, str], tuple[bool, str]] = {}
    for device_id, props in events:
        product = str(props["product"])
        tally = tallies.setdefault(product, ProductTally(product))
        if "finding" in props:
            findings[(device_id, product, str(props["part_id"]))] = (bool(props["passed"]), str(props["finding"]))
            continue
        tally.count(bool(props["passed"]))
        tally.threshold = float(props["threshold"])
    for (_, product, _), (passed, finding) in findings.items():
        if finding == "good" and not passed:
            tallies[product].report_false_reject()
        elif finding == "defect" and passed:
            tallies[product].report_escape()
    return tallies
