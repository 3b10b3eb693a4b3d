"""Delivering a generation to the client, whole or streamed, through the answer guard (step 7) and
into the outcome record (step 8).

Tool calls arrive whole on the last delta; their arguments pass the same guard as the text (after
it, separated by a control character the guard leaves alone), so policy judges them like any text.
A structured answer (JSON format, required tool call) that runs out of tokens is an error.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from appliance.api.answers import AnswerFraming, LogprobRelease
from appliance.api.errors import ApiError
from appliance.pipeline import Call, InferencePipeline, blocked_error
from appliance.routing.base import DeltaStream, OutputOptions, StreamDelta, ToolCall
from policies.stream import PolicyBlocked, StreamGuard

DISCONNECT_POLL_SECONDS = 0.2
_ARGUMENTS_SEPARATOR = "\x1e"


@dataclass
class AnswerCheck:
    """What turns a call's deltas into the client's answer."""

    framing: AnswerFraming
    guard: StreamGuard
    logprobs: LogprobRelease
    structured: str | None  # the structured form the answer must complete ("tool call", "JSON answer")

    @classmethod
    def for_call(cls, call: Call, guard: StreamGuard, options: OutputOptions) -> AnswerCheck:
        framing = AnswerFraming(call.is_chat, call.request_id, call.requested_model)
        return cls(framing, guard, LogprobRelease(options.top_logprobs is not None), _structured_form(options))

    def finish(self, calls: list[ToolCall], whole: str | None = None) -> tuple[str, list[ToolCall]]:
        """The held-back text (or, for a non-streamed answer, the `whole` text in one scan) and the tool
        calls, both through the guard (PolicyBlocked if blocked)."""
        blob = "".join(_ARGUMENTS_SEPARATOR + c.arguments for c in calls)
        if whole is not None:
            released = self.guard.check_whole(whole + blob)
        else:
            released = (self.guard.feed(blob) if blob else "") + self.guard.finish()
        text, *arguments = released.split(_ARGUMENTS_SEPARATOR)
        if len(arguments) != len(calls) or not all(_is_json_object(a) for a in arguments):
            raise ApiError(502, "a tool call's arguments did not survive the answer check intact", type="server_error",
                           code="tool_call_invalid")
        return text, [replace(c, arguments=a) for c, a in zip(calls, arguments)]

    def incomplete(self, last: StreamDelta, text: str) -> ApiError | None:
        """A structured answer that ran out of tokens (or was cut by a stop sequence) is an error,
        never a truncated answer."""
        if self.structured is None:
            return None
        if last.finish_reason == ("tool_calls" if self.structured == "tool call" else "stop") and (
                self.structured == "tool call" or _is_json(text)):
            return None
        return ApiError(400, f"The model did not complete the {self.structured} within the token limit "
                        f"(finish reason {last.finish_reason!r}); raise max_tokens or simplify the schema.",
                        param="max_tokens", code="structured_output_incomplete")


def _structured_form(options: OutputOptions) -> str | None:
    if options.tool_choice == "required" or isinstance(options.tool_choice, dict):
        return "tool call"
    return "JSON answer" if options.structured and not options.offers_tools else None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


async def _feed(guard: StreamGuard, text: str) -> str:
    """`guard.feed`, in a worker thread when it will scan, so one stream's scan does not hold the event
    loop (and every other stream's next chunk) for the detector's tens of milliseconds."""
    if guard.scans_after(text):
        return await run_in_threadpool(guard.feed, text)
    return guard.feed(text)


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _count_tokens(pipeline: InferencePipeline, call: Call, last: StreamDelta) -> None:
    pipeline.services.metrics.tokens.labels(call.requested_model, "prompt").inc(last.prompt_tokens)
    pipeline.services.metrics.tokens.labels(call.requested_model, "completion").inc(last.completion_tokens)
    pipeline.services.metrics.tokens.labels(call.requested_model, "prompt_cached").inc(last.cached_prompt_tokens)


async def complete(pipeline: InferencePipeline, call: Call, answer: AnswerCheck,
                   first: StreamDelta, deltas: DeltaStream) -> JSONResponse:
    """The whole answer as one response, scanned once whole."""
    raw: list[str] = [first.text]
    answer.logprobs.add(first.text, first.logprobs)
    last = first
    try:
        async for delta in deltas:
            raw.append(delta.text)
            answer.logprobs.add(delta.text, delta.logprobs)
            last = delta
        text, tool_calls = await run_in_threadpool(answer.finish, last.tool_calls, "".join(raw))
    except PolicyBlocked as blocked:
        await pipeline.record_outcome(call, 400, error="response_blocked", answer_decision=answer.guard.decision)
        raise blocked_error(blocked.fired, "answer") from None
    except ApiError as failed:  # the answer could not be checked (detector failed): withheld, and logged so
        await pipeline.record_outcome(call, failed.status, error=failed.code, prompt_tokens=last.prompt_tokens,
                                      completion_tokens=last.completion_tokens)
        raise
    finally:
        await deltas.aclose()  # stops the generation if this task was cancelled (client gone)
    _count_tokens(pipeline, call, last)
    incomplete = answer.incomplete(last, text)
    await pipeline.record_outcome(call, incomplete.status if incomplete else 200, finish_reason=last.finish_reason,
                                  error=incomplete.code if incomplete else None, prompt_tokens=last.prompt_tokens,
                                  completion_tokens=last.completion_tokens, answer=text,
                                  answer_decision=answer.guard.decision, tools_called=[c.name for c in tool_calls])
    if incomplete:
        raise incomplete
    return JSONResponse(answer.framing.full(text, last.finish_reason or "stop", last, tool_calls,
                                            answer.logprobs.release(text)))


async def until_done_or_disconnect(request: Request, work: Any, call: Call, pipeline: InferencePipeline) -> Any:
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


@dataclass
class _Sent:
    """What a streamed answer has sent so far, and how it ended: its outcome record, written once."""

    last: StreamDelta
    emitted: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    status: int = 200
    error: str | None = None
    recorded: bool = False
    has_text: bool = False  # some answer text has been sent

    def emit(self, text: str, on_first_text: Callable[[], None]) -> None:
        """Note `text` as sent; `on_first_text` runs when it is the answer's first text."""
        if text and not self.has_text:
            self.has_text = True
            on_first_text()
        self.emitted.append(text)

    async def record(self, pipeline: InferencePipeline, call: Call, answer: AnswerCheck) -> None:
        """Write the outcome record unless already attempted (a store that failed once is not retried)."""
        if self.recorded:
            return
        self.recorded = True
        await pipeline.record_outcome(
            call, self.status, error=self.error, finish_reason=self.last.finish_reason,
            prompt_tokens=self.last.prompt_tokens, completion_tokens=self.last.completion_tokens,
            answer="".join(self.emitted), answer_decision=answer.guard.decision,
            tools_called=[c.name for c in self.tool_calls],
        )


async def stream_events(pipeline: InferencePipeline, call: Call, answer: AnswerCheck, first: StreamDelta,
                        deltas: DeltaStream, include_usage: bool) -> AsyncIterator[bytes]:
    """Server-sent events: text as the guard releases it, tool calls, then the finish, sent only once the
    outcome record is durable (a client that saw the finish has its call in the log)."""
    sent = _Sent(first)
    framing = answer.framing

    def piece(delta: StreamDelta, safe: str, **extra: Any) -> bytes:
        answer.logprobs.add(delta.text, delta.logprobs)
        sent.emit(safe, lambda: pipeline.first_text_sent(call))
        return _sse(framing.chunk(safe, logprobs=answer.logprobs.release(safe), **extra))

    try:
        yield piece(first, await _feed(answer.guard, first.text), first=True)
        async for delta in deltas:
            safe = await _feed(answer.guard, delta.text)
            if safe:
                yield piece(delta, safe)
            else:
                answer.logprobs.add(delta.text, delta.logprobs)
            sent.last = delta
        tail, sent.tool_calls = await run_in_threadpool(answer.finish, sent.last.tool_calls)
        if tail or sent.tool_calls:
            yield piece(StreamDelta(""), tail, tool_calls=sent.tool_calls)
        incomplete = answer.incomplete(sent.last, "".join(sent.emitted))
        if incomplete:
            raise incomplete
        await sent.record(pipeline, call, answer)
        yield _sse(framing.chunk(None, sent.last.finish_reason or "stop"))
        if include_usage:
            yield _sse(framing.usage_chunk(sent.last))
        yield b"data: [DONE]\n\n"
    except PolicyBlocked as blocked:
        sent.status, sent.error = 400, "response_blocked"
        yield _sse(blocked_error(blocked.fired, "answer").body())
    except ApiError as failed:
        sent.status, sent.error = failed.status, failed.code
        yield _sse(failed.body())
    except BaseException:
        sent.status, sent.error = 499, "client_disconnected"
        raise
    finally:
        _count_tokens(pipeline, call, sent.last)
        with anyio.CancelScope(shield=True):  # the client may be gone: still stop the job and log it
            await deltas.aclose()
            await sent.record(pipeline, call, answer)
