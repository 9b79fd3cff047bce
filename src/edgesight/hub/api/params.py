"""Query parameters shared by the routes, bounded so that no value can reach the database unchecked.

A float query parameter accepts ``nan`` and ``inf`` unless told otherwise, and an unbounded integer
overflows PostgreSQL's BIGINT or SQLite's INTEGER: both used to surface as HTTP 500. Every
numeric query parameter of the API is one of these types.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

__all__ = ["MAX_LIMIT", "MAX_ROW_ID", "MAX_UNIX_S", "FromQuery", "LimitQuery", "RowIdQuery", "ToQuery"]

MAX_UNIX_S = 253_402_300_799.0
"""9999-12-31T23:59:59Z: later than any real timestamp, small enough for every bucket computation."""
MAX_LIMIT = 100_000
MAX_ROW_ID = 2**63 - 1

FromQuery = Annotated[
    float | None,
    Query(alias="from", ge=0, le=MAX_UNIX_S, allow_inf_nan=False, description="Unix seconds, inclusive."),
]
ToQuery = Annotated[
    float | None,
    Query(alias="to", ge=0, le=MAX_UNIX_S, allow_inf_nan=False, description="Unix seconds, exclusive."),
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Most rows returned.")]
RowIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="A row id.")]
