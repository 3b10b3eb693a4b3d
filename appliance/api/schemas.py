"""OpenAI-compatible request and response bodies (the subset the appliance serves).

Every body is an allow-list: a field the appliance does not implement is refused with a 400 naming
it (`extra="forbid"`), never silently dropped. Tools, structured outputs and the sampling extras live
in `api/openai_fields.py`.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from appliance.api.openai_fields import (
    LogitBias,
    ResponseFormat,
    Strict,
    Tool,
    ToolCall,
    ToolChoice,
    UserId,
)
from policies.vocabulary import PURPOSES, Direction, Zone


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class ContentPart(Strict):
    type: Literal["text"]
    text: str


class Message(Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = Field(None, min_length=1, max_length=128)
    # Echoed back by SDKs that resend an assistant message as they received it; only empty values.
    refusal: None = None
    annotations: list[Any] | None = Field(None, max_length=0)
    audio: None = None
    function_call: None = None

    @model_validator(mode="after")
    def _tool_fields_fit_the_role(self) -> "Message":
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(Strict):
    include_usage: bool = False


class _SamplingFields(Strict):
    model: str = Field(min_length=1, max_length=128, examples=["smollm2-135m-instruct"])
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=INT64_MIN, le=INT64_MAX)
    n: int = Field(1, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    logit_bias: LogitBias | None = None
    user: UserId | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        return value

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("n > 1 is not supported: the engine generates one choice per request; send n requests")
        return value

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatCompletionRequest(_SamplingFields):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = Field(None, min_length=1, max_length=64)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)

    @model_validator(mode="after")
    def _consistent_options(self) -> "ChatCompletionRequest":
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        if self.tool_choice is not None and self.tool_choice != "none" and not self.tools:
            raise ValueError("tool_choice needs tools")
        named = getattr(self.tool_choice, "function", None)
        if named is not None and named.name not in {t.function.name for t in self.tools or []}:
            raise ValueError(f"tool_choice names the function {named.name!r}, which is not among the tools")
        return self

    @property
    def effective_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_SamplingFields):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)] = Field(
        description="one prompt (a string, or a list holding exactly one string); it must not be empty")
    logprobs: int | None = Field(None, ge=0, le=5)

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


class ScanRequest(Strict):
    text: str = Field(max_length=1_000_000)
    zone: Zone = "local"
    direction: Direction = "prompt"
    purpose: str | None = None

    @field_validator("purpose")
    @classmethod
    def _known_purpose(cls, value: str | None) -> str | None:
        if value is not None and value not in PURPOSES:
            raise ValueError(f"unknown purpose {value!r}; choose one of {', '.join(PURPOSES)}")
        return value


class EmbeddingRequest(Strict):
    model: str = Field(min_length=1, max_length=128)
    input: str | list[str] = Field(description="one text or a batch of texts (token arrays are not accepted)")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: UserId | None = None

    @field_validator("input")
    @classmethod
    def _some_text(cls, value: str | list[str]) -> str | list[str]:
        texts = [value] if isinstance(value, str) else value
        if not 1 <= len(texts) <= 256:
            raise ValueError("input takes 1 to 256 texts")
        if any(not text for text in texts):
            raise ValueError("input texts must not be empty")
        return value

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)
