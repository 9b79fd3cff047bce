"""``POST /api/v1/ingest``: a batch of length-prefixed envelopes from one device."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from edgesight.core.errors import SchemaError
from edgesight.core.wire import split_envelopes
from edgesight.hub.api.deps import DeviceDep, HubDep
from edgesight.hub.api.schemas import IngestResponse, OutcomePublic

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["ingest"])
MAX_BODY = 64 * 1024 * 1024


@router.post(
    "/ingest",
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                       "format": "binary"}}}}},
)  # fmt: skip
async def ingest(request: Request, hub: HubDep, device_id: DeviceDep) -> IngestResponse:
    """Store the valid envelopes of the body; returns each envelope's outcome and the device's ack."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body of {len(body)} bytes exceeds {MAX_BODY}")
    try:
        raws = split_envelopes(body)
    except SchemaError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"malformed ingest body: {exc}") from exc
    result = await run_in_threadpool(hub.ingestor.ingest_batch, [(device_id, r) for r in raws], False)
    ack = result.acks.get(device_id)
    return IngestResponse(
        outcomes=[OutcomePublic(status=o.status, seq=o.seq, detail=o.detail) for o in result.outcomes],
        stored_through=None if ack is None else ack.stored_through,
        rejected=result.rejected.get(device_id, []),
    )
