"""POST /v1/chat/completions, POST /v1/completions and GET /v1/models (with each model's capabilities),
in the OpenAI wire format. Delivery of the answer is in `delivery.py`."""
from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from appliance.api.delivery import AnswerCheck, complete, stream_events, until_done_or_disconnect
from appliance.api.deps import PipelineDep, ServicesDep, client_fields, require
from appliance.api.errors import ApiError
from appliance.api.schemas import ChatCompletionRequest, CompletionRequest
from appliance.api.translate import request_audit_fields, scanned_texts
from appliance.auth import Principal
from appliance.pipeline import Call, InferencePipeline
from appliance.routing.router import parse_task_hint
from appliance.services import Services
from audit.capture import SUBJECT_ID_RULE, check_subject_id

router = APIRouter()
# A JSON body, or with `stream: true` server-sent events: both documented in the OpenAPI schema.
ANSWER_TYPES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}, "text/event-stream": {}}}}
TASK_HINT_HEADER = "X-Task-Hint"
SUBJECT_HEADER = "X-Data-Subject"  # whose text it is, for encrypted capture and erasure (GDPR Art. 17)


def inference_call(request: Request, services: Services, principal: Principal, endpoint: str, model: str,
                   texts: list[str], roles: list[str], *, stops: list[str] | None = None,
                   seed: int | None = None) -> Call:
    """A new call: client, task hint and data subject from the request's headers. Its texts are `texts`
    followed by the stop sequences: everything forwarded is scanned."""
    client = client_fields(request)
    try:
        hint = parse_task_hint(request.headers.get(TASK_HINT_HEADER))
    except ValueError as exc:
        raise ApiError(400, f"{TASK_HINT_HEADER}: {exc}", param=TASK_HINT_HEADER, code="invalid_task_hint") from None
    subject = _data_subject(request, capture_on=services.capture is not None)
    stops = stops or []
    return Call(request.state.request_id, endpoint, principal, client, model, [*texts, *stops], roles,
                task_hint=hint, subject=subject, stops=len(stops), seed=seed)


def _data_subject(request: Request, *, capture_on: bool) -> str:
    """The X-Data-Subject header, well-formed; required while encrypted capture is on (no fallback: an
    erasure request names the subject, never an API key). The value is never echoed: it may identify a patient."""
    subject = request.headers.get(SUBJECT_HEADER)
    if subject is None:
        if capture_on:
            raise ApiError(400, f"The {SUBJECT_HEADER} header is required: encrypted capture is on, so every "
                           f"inference call must name the data subject whose text it carries ({SUBJECT_ID_RULE}).",
                           param=SUBJECT_HEADER, code="missing_data_subject")
        return ""
    try:
        return check_subject_id(subject)
    except ValueError as exc:
        raise ApiError(400, f"{SUBJECT_HEADER}: {exc}.", param=SUBJECT_HEADER, code="invalid_data_subject") from None


async def _serve(request: Request, pipeline: InferencePipeline, call: Call,
                 body: ChatCompletionRequest | CompletionRequest) -> Any:
    with pipeline.announced(call):
        pipeline.check_bounds(body.effective_max_tokens)
        call.audit_extra = request_audit_fields(body)
        with pipeline.stage("prompt_check"):
            await pipeline.screen(call)
        with pipeline.stage("write_ahead"):
            await pipeline.write_ahead(call, body.stream)
        guard = pipeline.answer_guard(call)
        async with pipeline.backend_errors(call):
            generation = pipeline.generation_request(call, body)
        with pipeline.stage("first_token"):
            first, deltas = await pipeline.open_stream(call, generation)
        call.first_token_at = time.perf_counter()
    answer = AnswerCheck.for_call(call, guard, generation.options)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            stream_events(pipeline, call, answer, first, deltas, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await until_done_or_disconnect(request, complete(pipeline, call, answer, first, deltas), call, pipeline)


@router.post("/v1/chat/completions", responses=ANSWER_TYPES)
async def chat_completions(body: ChatCompletionRequest, request: Request, services: ServicesDep, pipeline: PipelineDep,
                           principal: Principal = Depends(require("inference"))) -> Any:
    texts, roles = scanned_texts(body)
    call = inference_call(request, services, principal, "/v1/chat/completions", body.model, texts, roles,
                          stops=body.stop_list, seed=body.seed)
    return await _serve(request, pipeline, call, body)


@router.post("/v1/completions", responses=ANSWER_TYPES)
async def completions(body: CompletionRequest, request: Request, services: ServicesDep, pipeline: PipelineDep,
                      principal: Principal = Depends(require("inference"))) -> Any:
    call = inference_call(request, services, principal, "/v1/completions", body.model, [body.prompt_text], [],
                          stops=body.stop_list, seed=body.seed)
    return await _serve(request, pipeline, call, body)


@router.get("/v1/models")
async def list_models(services: ServicesDep, principal: Principal = Depends(require(None))) -> dict[str, Any]:
    routes = services.routes
    return {"object": "list", "data": [
        {"id": model_id, "object": "model", "created": created, "owned_by": owner, "capabilities": capabilities}
        for model_id, created, owner, capabilities in routes.listing()
    ]}

