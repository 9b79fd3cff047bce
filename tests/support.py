"""Helpers shared by tests (importable as ``support``; pyproject puts tests/ on the path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VTEST = REPO / "data" / "vtest.avi"
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str) -> None:
    """Skip when something the test needs is missing on a developer machine; fail under CI=true,
    where `make test` has set everything up and a missing part is a defect."""
    if not condition:
        if IN_CI:
            pytest.fail(f"CI: {reason}")
        pytest.skip(reason)
