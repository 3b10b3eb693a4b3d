"""OpenAI-compatible request and response bodies (the subset the appliance serves)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from policies.pack import PURPOSES


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class _Lenient(BaseModel):
    """OpenAI clients send fields we do not use (user, logprobs=false, ...): accepted, never forwarded.

    They are kept (`model_extra`) so that `unknown_text_fields` can name those that carry text: such a
    request is refused for a non-local zone (text nobody scanned must not leave).
    """

    model_config = ConfigDict(extra="allow")


def unknown_text_fields(model: BaseModel, path: str = "") -> list[str]:
    """Dotted paths of unknown fields holding text, in `model` and the models inside it."""
    found = [f"{path}{name}" for name, value in (model.model_extra or {}).items() if _holds_text(value)]
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if isinstance(item, BaseModel):
                where = f"{path}{name}[{index}]." if isinstance(value, list) else f"{path}{name}."
                found += unknown_text_fields(item, where)
    return found


def _holds_text(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value)
    if isinstance(value, dict):
        return any(_holds_text(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_text(v) for v in value)
    return False


class ContentPart(_Lenient):
    type: Literal["text"]
    text: str


class Message(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Lenient):
    include_usage: bool = False


class _SamplingFields(_Lenient):
    model: str = Field(min_length=1, max_length=128, examples=["smollm2-135m-instruct"])
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=INT64_MIN, le=INT64_MAX)
    n: int = Field(1, ge=1, le=1, description="only n=1 is supported")
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        return value

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatCompletionRequest(_SamplingFields):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)

    @property
    def effective_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_SamplingFields):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)] = Field(
        description="one prompt (a string, or a list holding exactly one string); it must not be empty")

    @field_validator("prompt")
    @classmethod
    def _prompt_not_empty(cls, value: str | list[str]) -> str | list[str]:
        if not (value if isinstance(value, str) else value[0]):
            raise ValueError("the prompt is empty; send at least one character")
        return value

    @property
    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    @property
    def effective_max_tokens(self) -> int | None:
        return self.max_tokens


class ScanRequest(_Lenient):
    text: str = Field(max_length=1_000_000)
    zone: Literal["local", "internal", "external"] = "local"
    direction: Literal["prompt", "response"] = "prompt"
    purpose: str | None = None

    @field_validator("purpose")
    @classmethod
    def _known_purpose(cls, value: str | None) -> str | None:
        if value is not None and value not in PURPOSES:
            raise ValueError(f"unknown purpose {value!r}; choose one of {', '.join(PURPOSES)}")
        return value
