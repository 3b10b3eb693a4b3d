"""From a validated OpenAI request body to what the pipeline scans and what backends are asked.

Everything a request carries outward is scanned: each message's text, then the arguments of each
tool call in the conversation (in order). After the policy has transformed those texts, the
conversation is rebuilt from them, so a redacted argument is redacted in the call that is sent.
"""
from __future__ import annotations

import json
import re
from typing import Any

from appliance.api.openai_fields import NamedToolChoice
from appliance.api.schemas import ChatCompletionRequest, CompletionRequest, Message
from appliance.routing.base import ChatMessage, OutputOptions, ToolCall, UnsupportedOption

TOOL_ARGUMENTS_ROLE = "tool_arguments"  # the role label of a scanned tool-call argument text
TOOL_DEFINITION_ROLE = "tool_definition"  # ... and of an offered tool's definition (JSON)
# JSON punctuation (and the underscore of keys like patient_mrn) hides a key's words from the
# recognizers' context matching; the detector sees arguments with these blanked, offsets unchanged.
_JSON_PUNCTUATION = re.compile(r'[{}\[\]":,_]')


def scanned_texts(body: ChatCompletionRequest) -> tuple[list[str], list[str]]:
    """(texts, roles) to scan: every message, every tool call's arguments, every offered tool."""
    texts = [m.text for m in body.messages]
    roles: list[str] = [m.role for m in body.messages]
    for message in body.messages:
        for call in message.tool_calls or []:
            texts.append(call.function.arguments)
            roles.append(TOOL_ARGUMENTS_ROLE)
    for tool in body.tools or []:
        texts.append(json.dumps(tool.model_dump(exclude_none=True), ensure_ascii=False))
        roles.append(TOOL_DEFINITION_ROLE)
    return texts, roles


def is_tool_text(role: str) -> bool:
    """Whether a scanned text with this role label is a tool call's arguments or a tool's definition (JSON)."""
    return role in (TOOL_ARGUMENTS_ROLE, TOOL_DEFINITION_ROLE)


def detection_view(text: str, role: str) -> str:
    """The text the detector reads for `text`: tool arguments with JSON punctuation blanked, so
    `{"mrn": "48213377"}` reads as `mrn  48213377`; findings keep the offsets of `text`."""
    return _JSON_PUNCTUATION.sub(" ", text) if is_tool_text(role) else text


def rebuilt_messages(messages: list[Message], texts: list[str]) -> list[ChatMessage]:
    """The conversation with the policy-transformed `texts` (in `scanned_texts` order)."""
    arguments = iter(texts[len(messages):])  # the tool definitions after them are left unread
    rebuilt = []
    for message, text in zip(messages, texts):
        calls = [ToolCall(c.id, c.function.name, next(arguments)) for c in message.tool_calls or []]
        rebuilt.append(ChatMessage(message.role, text, calls, message.tool_call_id))
    return rebuilt


def offered_tools(body: ChatCompletionRequest, texts: list[str]) -> tuple[dict[str, Any], ...]:
    """The offered tools as the policy left them (the last texts, in `scanned_texts` order)."""
    if not body.tools:
        return ()
    tools = []
    for text in texts[len(texts) - len(body.tools):]:
        try:
            tools.append(json.loads(text))
        except ValueError:
            raise UnsupportedOption("a tool definition holds data the policy redacts, and redacting it broke its "
                                    "JSON; remove the identifier from the definition", "tools") from None
    return tuple(tools)


def output_options(body: ChatCompletionRequest | CompletionRequest, texts: list[str]) -> OutputOptions:
    """The answer-shaping options of a request, in backend-neutral form; `texts` are the scanned
    texts after the policy (tool definitions are taken from them)."""
    common: dict[str, Any] = dict(
        presence_penalty=body.presence_penalty, frequency_penalty=body.frequency_penalty,
        logit_bias={int(token): bias for token, bias in (body.logit_bias or {}).items()},
    )
    if isinstance(body, CompletionRequest):
        return OutputOptions(top_logprobs=body.logprobs, **common)
    return OutputOptions(
        response_format=body.response_format.model_dump(by_alias=True, exclude_none=True) if body.response_format else None,
        tools=offered_tools(body, texts),
        tool_choice=body.tool_choice.model_dump() if isinstance(body.tool_choice, NamedToolChoice) else body.tool_choice,
        top_logprobs=(body.top_logprobs or 0) if body.logprobs else None,
        **common,
    )


def request_audit_fields(body: ChatCompletionRequest | CompletionRequest) -> dict[str, Any]:
    """What the request record says about tools, output format and end user (names, never values)."""
    fields: dict[str, Any] = {}
    if body.user is not None:
        fields["user"] = body.user
    if isinstance(body, ChatCompletionRequest):
        if body.tools:
            fields["tools_offered"] = [t.function.name for t in body.tools]
            choice = body.tool_choice
            fields["tool_choice"] = choice if isinstance(choice, str) or choice is None else f"function:{choice.function.name}"
        if body.response_format is not None:
            fields["response_format"] = body.response_format.type
    return fields
