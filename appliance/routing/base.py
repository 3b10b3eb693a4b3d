"""The one interface every backend (local llama.cpp, internal upstream, external cloud) implements."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, Literal, Protocol

Zone = Literal["local", "internal", "external"]


@dataclass
class ChatMessage:
    role: str
    content: str


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


@dataclass
class Generation:
    """A finished generation."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class StreamDelta:
    """One piece of a streamed generation; the last one carries `finish_reason` and token counts."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class BackendError(RuntimeError):
    """A backend could not produce an answer (unreachable, bad reply, refused)."""


class Backend(Protocol):
    """A place generation can happen, in one trust zone."""

    name: str
    zone: Zone

    async def generate(self, request: GenerationRequest) -> Generation: ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]: ...
