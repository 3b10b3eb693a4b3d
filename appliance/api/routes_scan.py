"""POST /v1/scan: the findings and the policy decision for a text, without generating anything."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from appliance.api.deps import PipelineDep, ServicesDep, request_fields, require
from appliance.api.schemas import ScanRequest
from appliance.auth import Principal

router = APIRouter()


@router.post("/v1/scan")
async def scan(body: ScanRequest, request: Request, pipeline: PipelineDep, services: ServicesDep,
               principal: Principal = Depends(require("scan"))) -> dict[str, Any]:
    purpose = body.purpose or principal.purpose
    [scanned] = await pipeline.scan([body.text], body.zone)
    decision = services.policy.decide([scanned.text], [scanned.findings], purpose=purpose, zone=body.zone,
                                      direction=body.direction)
    await pipeline.audit("scan", {
        **request_fields(request, principal, "/v1/scan"), "purpose": purpose, "zone": body.zone,
        "direction": body.direction, "text_hmac": services.audit.digest(body.text),
        "packs": services.policy.packs_info(), "decision": decision.action, "rules": decision.rule_ids,
        "findings": decision.finding_counts,
    })
    return {
        "findings": [f.as_json() for f in scanned.original_findings],
        "decision": {
            "action": decision.action,
            "rules": decision.rule_ids,
            "citations": decision.citations,
            "text": decision.texts[0] if decision.action != "block" else None,
        },
    }
