"""``POST /api/v1/ingest``: a batch of length-prefixed envelopes from one device."""

from __future__ import annotations

import struct

from fastapi import APIRouter, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from edgesight.hub.api.deps import DeviceDep, HubDep
from edgesight.hub.api.schemas import IngestResponse, OutcomePublic

router = APIRouter(prefix="/api/v1", tags=["ingest"])
MAX_BODY = 64 * 1024 * 1024
_LEN = struct.Struct(">I")


def split_envelopes(body: bytes) -> list[bytes]:
    """``[u32 big-endian length][envelope]...`` -> envelopes; raises ValueError naming the offset.

    Example:
        >>> split_envelopes(b"\\0\\0\\0\\2ab\\0\\0\\0\\1c")
        [b'ab', b'c']
    """
    out, offset = [], 0
    while offset < len(body):
        if offset + 4 > len(body):
            raise ValueError(f"body ends inside the length prefix at byte {offset}")
        (size,) = _LEN.unpack_from(body, offset)
        offset += 4
        if offset + size > len(body):
            raise ValueError(f"envelope at byte {offset - 4} claims {size} bytes, {len(body) - offset} remain")
        out.append(body[offset : offset + size])
        offset += size
    return out


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
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"malformed ingest body: {exc}") from exc
    result = await run_in_threadpool(hub.ingestor.ingest_batch, [(device_id, r) for r in raws], False)
    ack = result.acks.get(device_id)
    return IngestResponse(
        outcomes=[OutcomePublic(status=o.status, seq=o.seq, detail=o.detail) for o in result.outcomes],
        stored_through=None if ack is None else ack.stored_through,
        rejected=result.rejected.get(device_id, []),
    )
