"""Backends reached over HTTP: the shared transport (httpx, SSE, error mapping) and the
OpenAI-compatible wire format, used by UpstreamBackend (an internal vLLM or llama-server fleet).

Connections go through ordinary sockets, so the process egress guard sees and judges every one.
Errors become BackendError with one readable line naming the backend; upstream error messages are
never copied into it (they can echo the prompt), only the HTTP status and the error type.
"""
from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from appliance.egress import EgressBlocked, Endpoint
from appliance.routing.base import (
    BackendError,
    ChatMessage,
    DeltaStream,
    Generation,
    GenerationRequest,
    OutputOptions,
    StreamDelta,
    ToolCall,
    UnsupportedOption,
    Zone,
)

DEFAULT_TIMEOUT_S = 120.0


@dataclass
class SseEvent:
    name: str | None
    data: str


class StreamDecoder(Protocol):
    """Turns one stream's SSE events into deltas; `finish()` gives the closing delta."""

    def feed(self, event: SseEvent) -> list[StreamDelta]: ...

    @property
    def done(self) -> bool: ...

    def finish(self) -> StreamDelta: ...


class Wire(Protocol):
    """One API dialect: where to POST, which headers, the request body and how to read replies."""

    def path(self, request: GenerationRequest) -> str: ...

    def headers(self, api_key: str | None) -> dict[str, str]: ...

    def body(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]: ...

    def parse(self, payload: Any) -> Generation: ...

    def decoder(self, request: GenerationRequest) -> StreamDecoder: ...


class MalformedReply(ValueError):
    """The backend's reply does not have the shape its API promises."""


class HttpBackend:
    """A backend behind an HTTP API in `zone`, speaking `wire`. `base_url` is the server root, with
    or without a trailing `/v1`. `verify`: True (the system trust store), a CA bundle path (a
    facility CA) or False. One connection per request (no pool shared across event loops)."""

    def __init__(self, name: str, zone: Zone, base_url: str, wire: Wire, api_key: str | None = None,
                 model: str | None = None, timeout: float = DEFAULT_TIMEOUT_S, verify: bool | str = True) -> None:
        if timeout <= 0:
            raise ValueError(f"backend {name!r}: timeout must be positive, got {timeout}")
        self.name = name
        self.zone = zone
        self.endpoint = Endpoint.from_url(base_url)  # also refuses a URL that is not http(s)
        self.base_url = _server_root(base_url)
        self.wire = wire
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self._tls = _tls_context(name, verify)

    async def generate(self, request: GenerationRequest) -> Generation:
        async with self._client() as client:
            try:
                response = await client.post(self._url(request), json=self._body(request, False),
                                             headers=self.wire.headers(self.api_key))
            except httpx.HTTPError as exc:
                raise self._error(_transport_problem(exc, self.timeout)) from exc
            await self._check_status(response)
            try:
                return self.wire.parse(parse_json(response.text))
            except MalformedReply as exc:
                raise self._error(str(exc)) from exc

    async def stream(self, request: GenerationRequest) -> DeltaStream:
        decoder = self.wire.decoder(request)
        async with self._client() as client:
            try:
                async with client.stream("POST", self._url(request), json=self._body(request, True),
                                         headers=self.wire.headers(self.api_key)) as response:
                    await self._check_status(response)
                    async for event in _sse_events(response):
                        for delta in decoder.feed(event):
                            yield delta
                        if decoder.done:
                            break
            except httpx.HTTPError as exc:
                raise self._error(_transport_problem(exc, self.timeout)) from exc
            except MalformedReply as exc:
                raise self._error(str(exc)) from exc
        try:
            final = decoder.finish()
        except MalformedReply as exc:
            raise self._error(str(exc)) from exc
        yield final

    def _client(self) -> httpx.AsyncClient:
        # trust_env=False: no proxy or netrc from the environment; the base URL is the destination.
        return httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), trust_env=False, verify=self._tls)

    def _url(self, request: GenerationRequest) -> str:
        return self.base_url + self.wire.path(request)

    def _body(self, request: GenerationRequest, stream: bool) -> dict[str, Any]:
        return self.wire.body(request, self.model or request.model, stream)

    async def _check_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        await response.aread()
        raise self._error(f"answered HTTP {response.status_code}{_error_type(response)}")

    def _error(self, problem: str) -> BackendError:
        return BackendError(f"backend {self.name!r} ({self.zone}, {self.endpoint}): {problem}")


# -- OpenAI-compatible wire --------------------------------------------------------------------


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


class UpstreamBackend(HttpBackend):
    """An OpenAI-compatible server inside the facility (vLLM, llama-server): zone `internal`."""

    def __init__(self, name: str, base_url: str, api_key: str | None = None, model: str | None = None,
                 zone: Zone = "internal", timeout: float = DEFAULT_TIMEOUT_S, verify: bool | str = True) -> None:
        super().__init__(name, zone, base_url, OpenAIWire(), api_key, model, timeout, verify)


# -- shared helpers ----------------------------------------------------------------------------


async def _sse_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """Server-sent events: `event:` and `data:` fields, dispatched at each blank line."""
    name: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield SseEvent(name, "\n".join(data))
            name, data = None, []
        elif line.startswith(":"):
            continue
        else:
            field_name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field_name == "event":
                name = value
            elif field_name == "data":
                data.append(value)
    if data:
        yield SseEvent(name, "\n".join(data))


def _tls_context(name: str, verify: bool | str) -> ssl.SSLContext | bool:
    """Built once per backend (loading a CA bundle per request would cost more than the request)."""
    if verify is False:
        return False
    cafile = verify if isinstance(verify, str) else None  # None: the system's trust store
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"backend {name!r}: cannot load the CA bundle {cafile!r} ({type(exc).__name__})") from exc


def _server_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


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


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedReply("sent invalid JSON") from exc


def require_field(payload: Any, key: str, kind: type) -> Any:
    value = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(value, kind):
        raise MalformedReply(f"answered JSON without a valid {key!r} field")
    return value


def _first_choice(payload: Any) -> dict[str, Any]:
    choices = require_field(payload, "choices", list)
    if not choices or not isinstance(choices[0], dict):
        raise MalformedReply("answered JSON with no choices")
    return choices[0]


def text_value(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedReply("answered JSON whose text is not a string")
    return value


def _openai_usage(payload: dict[str, Any]) -> tuple[int, int]:
    usage = payload.get("usage") or {}
    return token_count(usage, "prompt_tokens"), token_count(usage, "completion_tokens")


def token_count(usage: Any, key: str) -> int:
    value = usage.get(key, 0) if isinstance(usage, dict) else 0
    if not isinstance(value, int) or value < 0:
        raise MalformedReply(f"answered a bad token count in {key!r}")
    return value


def _error_type(response: httpx.Response) -> str:
    try:
        return error_type_of(response.json())
    except ValueError:
        return ""


def error_type_of(payload: Any) -> str:
    """` (type)` of an OpenAI or Anthropic error body; its message is left out on purpose."""
    error = payload.get("error") if isinstance(payload, dict) else None
    kind = (error.get("type") or error.get("code")) if isinstance(error, dict) else None
    return f" ({str(kind)[:80]})" if kind else ""


def _transport_problem(exc: httpx.HTTPError, timeout: float) -> str:
    blocked = _egress_block(exc)
    if blocked is not None:
        return f"egress guard blocked the connection ({blocked.reason})"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect (server down or unreachable)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "closed the connection mid-reply"
    return f"transport error ({type(exc).__name__})"


def _egress_block(exc: BaseException) -> EgressBlocked | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, EgressBlocked):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
