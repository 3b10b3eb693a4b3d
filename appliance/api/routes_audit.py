"""The auditor's API: list and filter records, one record with its inclusion proof, the latest
checkpoint, and exports. Every other role gets 403."""
from __future__ import annotations

import base64
from dataclasses import asdict
from datetime import datetime
from typing import Any, Optional

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from appliance.api.deps import PipelineDep, ReviewDep, ServicesDep, request_fields, require
from appliance.api.errors import ApiError
from appliance.auth import Principal
from appliance.pipeline import InferencePipeline

router = APIRouter(prefix="/v1/audit")
auditor = require("audit")


async def _accessed(pipeline: InferencePipeline, request: Request, principal: Principal, what: str,
                    **details: Any) -> None:
    """Reading the log is itself logged (PCI DSS 10.2.1.3), before the answer is given."""
    await pipeline.audit("audit_access", {
        **request_fields(request, principal), "access": what, **{k: v for k, v in details.items() if v is not None},
    })


@router.get("/records")
async def list_records(
    request: Request,
    services: ServicesDep,
    pipeline: PipelineDep,
    kind: Optional[str] = None,
    since: Optional[datetime] = None,
    until: Optional[datetime] = None,
    request_id: Optional[str] = None,
    actor: Optional[str] = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(auditor),
) -> dict[str, Any]:
    await _accessed(pipeline, request, principal, "list", filter_kind=kind, filter_request_id=request_id,
                    filter_actor=actor)
    records = await run_in_threadpool(services.audit.reader.find, kind=kind, since=since, until=until,
                                      request_id=request_id, actor=actor, limit=limit, offset=offset)
    return {"object": "list", "data": records, "limit": limit, "offset": offset}


@router.get("/records/{seq}")
async def get_record(seq: int, request: Request, services: ServicesDep, pipeline: PipelineDep,
                     tree_size: Optional[int] = Query(None, ge=1),
                     principal: Principal = Depends(auditor)) -> dict[str, Any]:
    """One record and its RFC 6962 inclusion proof in the tree of `tree_size` records (default: all)."""
    await _accessed(pipeline, request, principal, "record", record_seq=seq)
    reader = services.audit.reader
    size = await run_in_threadpool(reader.size)
    proof_size = tree_size or size
    if not 0 <= seq < proof_size <= size:
        raise ApiError(404, f"no audit record with seq {seq} in a tree of {proof_size} (the log has {size} records)",
                       type="not_found_error", code="record_not_found")
    [record] = await run_in_threadpool(reader.read_records, seq, seq)
    proof = await run_in_threadpool(reader.inclusion_proof, seq, proof_size)
    return {"record": record, "tree_size": proof_size,
            "inclusion_proof": [base64.b64encode(h).decode() for h in proof]}


@router.get("/checkpoint")
async def latest_checkpoint(request: Request, services: ServicesDep, pipeline: PipelineDep,
                            principal: Principal = Depends(auditor)) -> dict[str, Any]:
    """A checkpoint signed now, covering every record so far (this access included)."""
    await _accessed(pipeline, request, principal, "checkpoint")
    log = services.audit
    note = await run_in_threadpool(log.write_checkpoint)
    return {"checkpoint": note, "key_fingerprint": log.signing_fingerprint}


@router.post("/exports")
async def start_export(request: Request, services: ServicesDep, pipeline: PipelineDep, review: ReviewDep,
                       since: Optional[datetime] = None, until: Optional[datetime] = None,
                       principal: Principal = Depends(auditor)) -> dict[str, Any]:
    """Write an export (with the assessor pack) under DATA_DIR/exports/<request id>/ and say where it is and what it holds."""
    from audit.export import ExportError

    out = services.data.root / "exports" / request.state.request_id
    await _accessed(pipeline, request, principal, "export", since=since.isoformat() if since else None,
                    until=until.isoformat() if until else None)
    try:
        summary = await run_in_threadpool(review.export, out, since, until, principal.key_id)
    except ExportError as refused:  # nothing in the range, a key rotation under way: the caller is told why
        raise ApiError(400, f"Export refused: {refused}", code="export_refused") from None
    return {"path": str(out), "summary": {**asdict(summary), "directory": str(summary.directory)}}
