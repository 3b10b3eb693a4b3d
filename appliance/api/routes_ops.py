"""Liveness, readiness and Prometheus metrics. Without a key, `/readyz` says only ready or not;
`/metrics` needs a key of any role unless `server.metrics_require_key` is off."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from appliance.api.deps import ServicesDep, presented_principal, require
from appliance.services import Services

router = APIRouter()
any_role = require(None)


class PrometheusText(PlainTextResponse):
    media_type = "text/plain; version=0.0.4"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness(services: Services) -> dict[str, Any]:
    """Each component the request path needs, and whether it can do its job now."""
    checks: dict[str, Any] = {
        "model_loaded": bool(services.engine.loaded),
        "engine_running": services.engine.running(),
        "detector_loaded": services.detector is not None,
        "detector_running": services.detector is not None and services.detector.running,
        "policy_packs": [f"{p['id']}@{p['version']}" for p in services.policy.packs_info()],
        "audit_writable": services.audit.writable(),
        "egress_mode": services.settings.egress.mode,
        "egress_guard": services.egress is not None,
        "spawning_refused": services.egress is not None and services.egress.report()["spawning_refused"],
        "tls": services.tls.report() if services.tls is not None else None,
    }
    checks["ready"] = all(checks[k] for k in ("model_loaded", "engine_running", "detector_loaded", "detector_running",
                                              "policy_packs", "audit_writable"))
    return checks


@router.get("/readyz")
async def readyz(request: Request, services: ServicesDep) -> JSONResponse:
    checks = readiness(services)
    shown = checks if await presented_principal(request) is not None else {"ready": checks["ready"]}
    return JSONResponse(shown, status_code=200 if checks["ready"] else 503)


@router.get("/metrics", response_class=PrometheusText)
async def metrics(request: Request, services: ServicesDep) -> Response:
    if services.settings.server.metrics_require_key:
        await any_role(request)
    body = services.metrics.render()
    return PrometheusText(body)
