"""Event exports: CSV (streamed) and Parquet."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from edgesight.hub.api.deps import AdminDep, HubDep
from edgesight.hub.api.routes.queries import FilterDep
from edgesight.hub.storage import queries

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/export", tags=["export"], dependencies=[AdminDep])


def _flat(row: dict[str, object]) -> dict[str, object]:
    return {**row, "track_ids": json.dumps(row["track_ids"]), "properties": json.dumps(row["properties"])}


@router.get("/events.csv", response_class=StreamingResponse)
def events_csv(f: FilterDep, hub: HubDep) -> StreamingResponse:
    """Every matching event (``limit`` ignored); ``track_ids`` and ``properties`` as JSON text."""

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=queries.EVENT_COLUMNS)
        writer.writeheader()
        for chunk in queries.iter_events(hub.db, f):
            writer.writerows(_flat(r) for r in chunk)
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    return StreamingResponse(rows(), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="events.csv"'})  # fmt: skip


@router.get("/events.parquet", response_class=Response)
def events_parquet(f: FilterDep, hub: HubDep) -> Response:
    """Every matching event as one Parquet file (zstd); JSON columns as text."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    schema = pa.schema([
        ("id", pa.string()), ("device_id", pa.string()), ("stream_id", pa.string()), ("seq", pa.int64()),
        ("type", pa.string()), ("rule", pa.string()), ("trigger", pa.string()), ("frame_index", pa.int64()),
        ("timestamp", pa.float64()), ("class_name", pa.string()), ("track_ids", pa.string()),
        ("properties", pa.string()),
    ])  # fmt: skip
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, schema, compression="zstd") as writer:
        for chunk in queries.iter_events(hub.db, f):
            writer.write_table(pa.Table.from_pylist([_flat(r) for r in chunk], schema=schema))
    return Response(buf.getvalue(), media_type="application/vnd.apache.parquet",
                    headers={"Content-Disposition": 'attachment; filename="events.parquet"'})  # fmt: skip
