"""The richer OpenAI request fields: tools, tool calls, structured output formats, logit bias, user.

Every model here forbids unknown keys, like the request bodies that use them (`api/schemas.py`).
"""
from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
USER_ID = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces: an opaque end-user id


class Strict(BaseModel):
    """A request object whose unknown fields are refused (400 naming the field), never ignored."""

    model_config = ConfigDict(extra="forbid")


def _function_name(value: str) -> str:
    if not FUNCTION_NAME.fullmatch(value):
        raise ValueError("function names are 1-64 letters, digits, '_' or '-'")
    return value


FunctionName = Annotated[str, AfterValidator(_function_name)]


class FunctionDefinition(Strict):
    name: FunctionName
    description: str | None = Field(None, max_length=4096)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _object_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and value.get("type", "object") != "object":
            raise ValueError("function parameters must be a JSON schema of type 'object'")
        return value


class Tool(Strict):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(Strict):
    name: FunctionName


class NamedToolChoice(Strict):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class CalledFunction(Strict):
    name: FunctionName
    arguments: str = Field(max_length=65536)

    @field_validator("arguments")
    @classmethod
    def _json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError("function arguments must be a JSON object as text") from None
        if not isinstance(parsed, dict):
            raise ValueError("function arguments must be a JSON object as text")
        return value


class ToolCall(Strict):
    """A call the assistant made, as clients send it back in the conversation."""

    id: str = Field(min_length=1, max_length=128)
    type: Literal["function"]
    function: CalledFunction


class JsonSchemaFormat(Strict):
    name: FunctionName
    description: str | None = Field(None, max_length=4096)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class TextFormat(Strict):
    type: Literal["text"]


class JsonObjectFormat(Strict):
    type: Literal["json_object"]


class JsonSchemaResponseFormat(Strict):
    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaResponseFormat, Field(discriminator="type")]


def _bias(value: dict[str, float]) -> dict[str, float]:
    for token, bias in value.items():
        if not token.isdigit():
            raise ValueError(f"logit_bias keys are token ids (digits), got {token[:20]!r}")
        if not -100 <= bias <= 100:
            raise ValueError(f"logit_bias values lie in [-100, 100], got {bias} for token {token}")
    if len(value) > 300:
        raise ValueError("at most 300 logit_bias entries are allowed")
    return value


LogitBias = Annotated[dict[str, float], AfterValidator(_bias)]


def _user(value: str) -> str:
    if not USER_ID.fullmatch(value):
        raise ValueError("user is an opaque end-user id: 1-128 printable ASCII characters without spaces")
    return value


UserId = Annotated[str, AfterValidator(_user)]
