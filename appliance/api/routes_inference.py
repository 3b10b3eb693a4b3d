"""POST /v1/chat/completions, POST /v1/completions and GET /v1/models, in the OpenAI wire format."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from appliance.api.deps import require
from appliance.api.errors import ApiError
from appliance.api.schemas import ChatCompletionRequest, CompletionRequest, unknown_text_fields
from appliance.auth import Principal
from appliance.pipeline import Call, InferencePipeline, blocked_error
from policies.stream import PolicyBlocked, StreamGuard
from appliance.routing.base import StreamDelta
from appliance.routing.router import parse_task_hint
from audit.capture import SUBJECT_ID_RULE, check_subject_id

router = APIRouter()
# A JSON body, or with `stream: true` server-sent events: both documented in the OpenAPI schema.
ANSWER_TYPES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}, "text/event-stream": {}}}}
DISCONNECT_POLL_SECONDS = 0.2
TASK_HINT_HEADER = "X-Task-Hint"
SUBJECT_HEADER = "X-Data-Subject"  # whose text it is, for encrypted capture and erasure (GDPR Art. 17)


def _pipeline(request: Request) -> InferencePipeline:
    return request.app.state.pipeline


def _call(request: Request, principal: Principal, endpoint: str, body: ChatCompletionRequest | CompletionRequest,
          texts: list[str], roles: list[str]) -> Call:
    """The call's texts are the messages (or prompt) followed by the stop sequences: all are forwarded."""
    client = request.client.host if request.client else "unknown"
    try:
        hint = parse_task_hint(request.headers.get(TASK_HINT_HEADER))
    except ValueError as exc:
        raise ApiError(400, f"{TASK_HINT_HEADER}: {exc}", param=TASK_HINT_HEADER, code="invalid_task_hint") from None
    subject = _data_subject(request, capture_on=request.app.state.services.capture is not None)
    return Call(request.state.request_id, endpoint, principal, client, body.model, [*texts, *body.stop_list], roles,
                task_hint=hint, subject=subject, stops=len(body.stop_list), unknown_fields=unknown_text_fields(body),
                seed=body.seed)


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


class _Framing:
    """Builds OpenAI response objects for chat or text completions."""

    def __init__(self, call: Call, model: str) -> None:
        self.chat = call.is_chat
        self.id = ("chatcmpl-" if self.chat else "cmpl-") + call.request_id.removeprefix("req_")
        self.created = int(time.time())
        self.model = model

    def _envelope(self, obj: str, choice: dict[str, Any]) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model, "choices": [choice]}

    def full(self, text: str, finish: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        if self.chat:
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": finish, "logprobs": None}
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
        body = self._envelope("chat.completion" if self.chat else "text_completion", choice)
        body["usage"] = _usage(prompt_tokens, completion_tokens)
        return body

    def chunk(self, text: str | None, finish: str | None = None, *, first: bool = False) -> dict[str, Any]:
        if self.chat:
            delta: dict[str, Any] = {"role": "assistant", "content": text or ""} if first else (
                {"content": text} if text else {})
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return self._envelope("chat.completion.chunk", choice)
        return self._envelope("text_completion", {"index": 0, "text": text or "", "finish_reason": finish,
                                                  "logprobs": None})

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        body = {"id": self.id, "object": "chat.completion.chunk" if self.chat else "text_completion",
                "created": self.created, "model": self.model, "choices": [],
                "usage": _usage(prompt_tokens, completion_tokens)}
        return body


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


async def _serve(request: Request, call: Call, body: ChatCompletionRequest | CompletionRequest) -> Any:
    pipeline = _pipeline(request)
    pipeline.check_bounds(body.effective_max_tokens)
    await pipeline.screen(call)
    await pipeline.write_ahead(call, body.stream)
    guard = pipeline.answer_guard(call)
    first, deltas = await pipeline.open_stream(call, pipeline.generation_request(call, body))
    framing = _Framing(call, call.requested_model)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            _stream_events(pipeline, call, framing, guard, first, deltas, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await _until_done_or_disconnect(request, _complete(pipeline, call, framing, guard, first, deltas), call, pipeline)


async def _complete(pipeline: InferencePipeline, call: Call, framing: _Framing, guard: StreamGuard,
                    first: StreamDelta, deltas: AsyncIterator[StreamDelta]) -> JSONResponse:
    raw: list[str] = [first.text]
    last = first
    try:
        async for delta in deltas:
            raw.append(delta.text)
            last = delta
        parts = [guard.check_whole("".join(raw))]  # one scan of the whole answer
    except PolicyBlocked as blocked:
        await pipeline.record_outcome(call, 400, error="response_blocked", answer_decision=guard.decision)
        raise blocked_error(blocked.fired, "answer") from None
    finally:
        await deltas.aclose()  # stops the generation if this task was cancelled (client gone)
    text = "".join(parts)
    pipeline.s.metrics.tokens.labels(call.requested_model, "prompt").inc(last.prompt_tokens)
    pipeline.s.metrics.tokens.labels(call.requested_model, "completion").inc(last.completion_tokens)
    await pipeline.record_outcome(call, 200, finish_reason=last.finish_reason, prompt_tokens=last.prompt_tokens,
                                  completion_tokens=last.completion_tokens, answer=text,
                                  answer_decision=guard.decision)
    return JSONResponse(framing.full(text, last.finish_reason or "stop", last.prompt_tokens, last.completion_tokens))


async def _until_done_or_disconnect(request: Request, work: Any, call: Call, pipeline: InferencePipeline) -> Any:
    """Run a non-streaming generation, cancelling it if the client goes away."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=DISCONNECT_POLL_SECONDS)
            if not task.done() and await request.is_disconnected():
                task.cancel()
                with anyio.CancelScope(shield=True):
                    await pipeline.record_outcome(call, 499, error="client_disconnected")
                return JSONResponse({}, status_code=499)
        return task.result()
    finally:
        if not task.done():
            task.cancel()


async def _stream_events(pipeline: InferencePipeline, call: Call, framing: _Framing, guard: StreamGuard,
                         first: StreamDelta, deltas: AsyncIterator[StreamDelta], include_usage: bool) -> AsyncIterator[bytes]:
    last = first
    emitted: list[str] = []
    status, error = 200, None
    try:
        yield _sse(framing.chunk(guard.feed(first.text), first=True))
        async for delta in deltas:
            safe = guard.feed(delta.text)
            if safe:
                emitted.append(safe)
                yield _sse(framing.chunk(safe))
            last = delta
        tail = guard.finish()
        if tail:
            emitted.append(tail)
            yield _sse(framing.chunk(tail))
        yield _sse(framing.chunk(None, last.finish_reason or "stop"))
        if include_usage:
            yield _sse(framing.usage_chunk(last.prompt_tokens, last.completion_tokens))
        yield b"data: [DONE]\n\n"
    except PolicyBlocked as blocked:
        status, error = 400, "response_blocked"
        yield _sse(blocked_error(blocked.fired, "answer").body())
    except BaseException:
        status, error = 499, "client_disconnected"
        raise
    finally:
        pipeline.s.metrics.tokens.labels(call.requested_model, "prompt").inc(last.prompt_tokens)
        pipeline.s.metrics.tokens.labels(call.requested_model, "completion").inc(last.completion_tokens)
        with anyio.CancelScope(shield=True):  # the client may be gone: still stop the job and log it
            await deltas.aclose()
            await pipeline.record_outcome(
                call, status, error=error, finish_reason=last.finish_reason, prompt_tokens=last.prompt_tokens,
                completion_tokens=last.completion_tokens, answer="".join(emitted), answer_decision=guard.decision,
            )


@router.post("/v1/chat/completions", responses=ANSWER_TYPES)
async def chat_completions(body: ChatCompletionRequest, request: Request,
                           principal: Principal = Depends(require("inference"))) -> Any:
    call = _call(request, principal, "/v1/chat/completions", body, [m.text for m in body.messages],
                 [m.role for m in body.messages])
    return await _serve(request, call, body)


@router.post("/v1/completions", responses=ANSWER_TYPES)
async def completions(body: CompletionRequest, request: Request,
                      principal: Principal = Depends(require("inference"))) -> Any:
    call = _call(request, principal, "/v1/completions", body, [body.prompt_text], [])
    return await _serve(request, call, body)


@router.get("/v1/models")
async def list_models(request: Request, principal: Principal = Depends(require(None))) -> dict[str, Any]:
    routes = request.app.state.services.routes
    return {"object": "list", "data": [
        {"id": model_id, "object": "model", "created": created, "owned_by": owner}
        for model_id, created, owner in routes.listing()
    ]}

