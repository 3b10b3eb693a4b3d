"""The one interface every backend (local llama.cpp, internal upstream, external cloud) implements."""
from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol

from policies.vocabulary import Zone


@dataclass(frozen=True)
class ToolCall:
    """One function call the assistant makes; `arguments` is a JSON object as text."""

    id: str
    name: str
    arguments: str


@dataclass
class ChatMessage:
    role: str
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None


@dataclass(frozen=True)
class TokenLogprob:
    """A sampled token, its log probability and the most likely alternatives at its position."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class OutputOptions:
    """What shapes the answer beyond plain sampling: structured output, tools, penalties, logprobs.

    `response_format` and `tools`/`tool_choice` are in their OpenAI JSON form; `top_logprobs` is
    None when no logprobs are wanted.
    """

    response_format: dict[str, Any] | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] | None = None
    top_logprobs: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)

    @property
    def offers_tools(self) -> bool:
        return bool(self.tools) and self.tool_choice != "none"

    @property
    def structured(self) -> bool:
        return self.offers_tools or (self.response_format or {}).get("type") in ("json_object", "json_schema")


@dataclass
class GenerationRequest:
    """What a backend is asked to do; `messages` (or a raw `prompt`) are already policy-transformed.

    A request with `prompt` set is a plain text completion (POST /v1/completions); otherwise a chat.
    """

    model: str
    messages: list[ChatMessage]
    prompt: str | None = None
    max_tokens: int | None = None
    temperature: float = 0.7
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    options: OutputOptions = field(default_factory=OutputOptions)
    client: str = ""  # who asks (the API key id): the local engine takes turns between clients


@dataclass
class Generation:
    """A finished generation."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass
class StreamDelta:
    """One piece of a streamed generation; the last one carries `finish_reason` and token counts.

    Tool calls arrive whole, on the last delta; logprobs, when asked for, cover the delta's text."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    cached_prompt_tokens: int = 0  # prompt tokens whose KV cells the engine already held


class BackendError(RuntimeError):
    """A backend could not produce an answer (unreachable, bad reply, refused)."""


class UnsupportedOption(ValueError):
    """The request asks for something this backend or model cannot do; names the field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


DeltaStream = AsyncGenerator[StreamDelta, None]  # a generation's deltas; aclose() stops the generation


class Backend(Protocol):
    """A place generation can happen, in one trust zone."""

    name: str
    zone: Zone

    async def generate(self, request: GenerationRequest) -> Generation: ...

    def stream(self, request: GenerationRequest) -> DeltaStream: ...
