"""The OpenAI-compatible wire format (vLLM, llama-server, OpenAI itself): request bodies, replies and
stream chunks ending in `data: [DONE]`."""
from __future__ import annotations

from typing import Any

from appliance.routing.base import (
    ChatMessage,
    Generation,
    GenerationRequest,
    OutputOptions,
    StreamDelta,
    ToolCall,
    UnsupportedOption,
)
from appliance.routing.http import SseEvent, StreamDecoder
from appliance.routing.replies import MalformedReply, error_type_of, parse_json, require_field, text_value, token_count


class OpenAIWire:
    """POST /v1/chat/completions (or /v1/completions for a raw prompt), Bearer auth, SSE chunks
    ending in `data: [DONE]`; usage requested in the stream via `stream_options.include_usage`."""

    def path(self, request: GenerationRequest) -> str:
        return "/v1/completions" if request.prompt is not None else "/v1/chat/completions"

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def body(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "temperature": request.temperature, "top_p": request.top_p}
        if request.prompt is not None:
            body["prompt"] = request.prompt
        else:
            body["messages"] = [message_json(m) for m in request.messages]
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        body.update(openai_options(request.options))
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def parse(self, payload: Any) -> Generation:
        choice = _first_choice(payload)
        message = choice if "text" in choice else require_field(choice, "message", dict)
        text = choice.get("text") if "text" in choice else message.get("content")
        prompt_tokens, completion_tokens = _openai_usage(payload)
        return Generation(text_value(text), choice.get("finish_reason") or "stop", prompt_tokens, completion_tokens,
                          [_tool_call(raw) for raw in message.get("tool_calls") or []])

    def decoder(self, request: GenerationRequest) -> StreamDecoder:
        return OpenAIStreamDecoder()


class OpenAIStreamDecoder:
    def __init__(self) -> None:
        self.done = False
        self.finish_reason: str | None = None
        self.usage = (0, 0)
        self.calls: dict[int, dict[str, str]] = {}  # tool calls assembled from their deltas, by index

    def feed(self, event: SseEvent) -> list[StreamDelta]:
        if event.data.strip() == "[DONE]":
            self.done = True
            return []
        payload = parse_json(event.data)
        if isinstance(payload, dict) and "error" in payload:
            raise MalformedReply(f"sent an error in the stream{error_type_of(payload)}")
        if isinstance(payload, dict) and payload.get("usage"):
            self.usage = _openai_usage(payload)
        choices = require_field(payload, "choices", list)
        if not choices:
            return []
        choice = choices[0]
        if not isinstance(choice, dict):
            raise MalformedReply("sent a stream chunk whose choice is not an object")
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta")
        if isinstance(delta, dict):
            self._add_tool_call_deltas(delta.get("tool_calls") or [])
        text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        return [StreamDelta(text=text)] if isinstance(text, str) and text else []

    def _add_tool_call_deltas(self, pieces: list[Any]) -> None:
        for piece in pieces:
            if not isinstance(piece, dict) or not isinstance(piece.get("index"), int):
                raise MalformedReply("sent a tool call delta without an index")
            call = self.calls.setdefault(piece["index"], {"id": "", "name": "", "arguments": ""})
            function = piece.get("function") or {}
            call["id"] = piece.get("id") or call["id"]
            call["name"] = function.get("name") or call["name"]
            call["arguments"] += function.get("arguments") or ""

    def finish(self) -> StreamDelta:
        if self.finish_reason is None:
            raise MalformedReply("ended the stream before a finish reason")
        calls = [_tool_call({"id": c["id"], "function": {"name": c["name"], "arguments": c["arguments"]}})
                 for _, c in sorted(self.calls.items())]
        return StreamDelta("", self.finish_reason, *self.usage, tool_calls=calls)


def message_json(message: ChatMessage) -> dict[str, Any]:
    """A message in the OpenAI shape, with its tool calls or the id of the call it answers."""
    item: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        item["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                              for c in message.tool_calls]
    if message.tool_call_id:
        item["tool_call_id"] = message.tool_call_id
    return item


def openai_options(options: OutputOptions) -> dict[str, Any]:
    """The answer-shaping options in OpenAI request form (only those that differ from the default)."""
    if options.top_logprobs is not None:
        raise UnsupportedOption("logprobs are served by the local engine only, not by backends over HTTP", "logprobs")
    fields = {
        "response_format": options.response_format,
        "tools": list(options.tools) or None,
        "tool_choice": options.tool_choice if options.tools else None,
        "presence_penalty": options.presence_penalty or None,
        "frequency_penalty": options.frequency_penalty or None,
        "logit_bias": {str(token): bias for token, bias in options.logit_bias.items()} or None,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _tool_call(raw: Any) -> ToolCall:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise MalformedReply("answered a tool call without a function name")
    arguments = function.get("arguments") or "{}"
    if not isinstance(arguments, str):
        raise MalformedReply("answered tool call arguments that are not text")
    return ToolCall(str(raw.get("id") or ""), function["name"], arguments)


def _first_choice(payload: Any) -> dict:
    choices = require_field(payload, "choices", list)
    if not choices or not isinstance(choices[0], dict):
        raise MalformedReply("answered JSON with no choices")
    return choices[0]


def _openai_usage(payload: dict) -> tuple[int, int]:
    usage = payload.get("usage") or {}
    return token_count(usage, "prompt_tokens"), token_count(usage, "completion_tokens")
