"""The Anthropic Messages wire format: POST /v1/messages, `x-api-key`, system text at the top level,
SSE events message_start, content_block_delta, message_delta, message_stop."""
from __future__ import annotations

from typing import Any

from appliance.routing.base import Generation, GenerationRequest, OutputOptions, StreamDelta, UnsupportedOption
from appliance.routing.http import SseEvent, StreamDecoder
from appliance.routing.openai_wire import message_json
from appliance.routing.replies import MalformedReply, error_type_of, parse_json, require_field, text_value, token_count

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_ANTHROPIC_MAX_TOKENS = 1024
# Anthropic stop reasons in OpenAI terms.
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "refusal": "content_filter"}


class AnthropicWire:
    """POST /v1/messages with `x-api-key` and `anthropic-version`; system messages go to the top-level
    `system` field; SSE events message_start, content_block_delta, message_delta, message_stop."""

    def __init__(self, default_max_tokens: int = DEFAULT_ANTHROPIC_MAX_TOKENS) -> None:
        self.default_max_tokens = default_max_tokens

    def path(self, request: GenerationRequest) -> str:
        return "/v1/messages"

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"x-api-key": api_key or "", "anthropic-version": ANTHROPIC_VERSION}

    def body(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        _refuse_openai_only(request.options)
        if request.prompt is not None:
            system, messages = [], [{"role": "user", "content": request.prompt}]
        else:
            system = [m.content for m in request.messages if m.role == "system"]
            messages = [message_json(m) for m in request.messages if m.role != "system"]
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens or self.default_max_tokens,
            "messages": messages,
            "temperature": min(request.temperature, 1.0),  # Anthropic's range is 0..1
        }
        if system:
            body["system"] = "\n\n".join(system)
        if request.top_p < 1.0:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if stream:
            body["stream"] = True
        return body

    def parse(self, payload: Any) -> Generation:
        blocks = require_field(payload, "content", list)
        text = "".join(text_value(b.get("text")) for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        usage = payload.get("usage") or {}
        return Generation(text, _finish(payload.get("stop_reason")), token_count(usage, "input_tokens"),
                          token_count(usage, "output_tokens"))

    def decoder(self, request: GenerationRequest) -> StreamDecoder:
        return AnthropicStreamDecoder()


class AnthropicStreamDecoder:
    def __init__(self) -> None:
        self.done = False
        self.stop_reason: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0

    def feed(self, event: SseEvent) -> list[StreamDelta]:
        payload = parse_json(event.data)
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind == "error":
            raise MalformedReply(f"sent an error in the stream{error_type_of(payload)}")
        if kind == "message_start":
            self.input_tokens = token_count(require_field(payload, "message", dict).get("usage") or {}, "input_tokens")
        elif kind == "content_block_delta":
            delta = require_field(payload, "delta", dict)
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [StreamDelta(text=text_value(delta["text"]))]
        elif kind == "message_delta":
            self.stop_reason = require_field(payload, "delta", dict).get("stop_reason") or self.stop_reason
            self.output_tokens = token_count(payload.get("usage") or {}, "output_tokens")
        elif kind == "message_stop":
            self.done = True
        return []

    def finish(self) -> StreamDelta:
        if not self.done or self.stop_reason is None:
            raise MalformedReply("ended the stream before message_stop")
        return StreamDelta("", _finish(self.stop_reason), self.input_tokens, self.output_tokens)


def _refuse_openai_only(options: OutputOptions) -> None:
    """Options this dialect has no form for are refused (400 naming the field), never dropped."""
    for param, asked in (("tools", bool(options.tools)), ("response_format", options.response_format is not None),
                         ("logprobs", options.top_logprobs is not None), ("logit_bias", bool(options.logit_bias)),
                         ("presence_penalty", bool(options.presence_penalty)),
                         ("frequency_penalty", bool(options.frequency_penalty))):
        if asked:
            raise UnsupportedOption(f"{param} is not supported by backends of the anthropic style", param)


def _finish(stop_reason: Any) -> str:
    return _FINISH.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
