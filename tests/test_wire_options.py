"""Answer-shaping options on the wire to HTTP backends: forwarded in the OpenAI form, refused (naming
the field) where a dialect has no form for them, and tool calls read back from streamed deltas."""
from __future__ import annotations

import json

import pytest

from appliance.routing.base import ChatMessage, GenerationRequest, OutputOptions, UnsupportedOption
from appliance.routing.anthropic_wire import AnthropicWire
from appliance.routing.http import SseEvent
from appliance.routing.openai_wire import OpenAIStreamDecoder, OpenAIWire

TOOL = {"type": "function", "function": {"name": "get_labs", "parameters": {"type": "object"}}}


def request(**options: object) -> GenerationRequest:
    return GenerationRequest(model="m", messages=[ChatMessage("user", "labs?")], options=OutputOptions(**options))


def test_openai_wire_forwards_the_options_as_given() -> None:
    body = OpenAIWire().body(request(tools=(TOOL,), tool_choice="required", response_format={"type": "json_object"},
                                     presence_penalty=0.5, logit_bias={42: -5.0}), "m", stream=False)
    assert body["tools"] == [TOOL] and body["tool_choice"] == "required"
    assert body["response_format"] == {"type": "json_object"}
    assert body["presence_penalty"] == 0.5 and body["logit_bias"] == {"42": -5.0}
    assert "frequency_penalty" not in body


@pytest.mark.parametrize("wire, options, param", [
    (OpenAIWire(), {"top_logprobs": 2}, "logprobs"),
    (AnthropicWire(), {"tools": (TOOL,)}, "tools"),
    (AnthropicWire(), {"response_format": {"type": "json_object"}}, "response_format"),
    (AnthropicWire(), {"frequency_penalty": 1.0}, "frequency_penalty"),
])
def test_an_option_a_dialect_cannot_carry_is_refused_by_name(wire: object, options: dict, param: str) -> None:
    with pytest.raises(UnsupportedOption) as refused:
        wire.body(request(**options), "m", stream=False)  # type: ignore[attr-defined]
    assert refused.value.param == param


def test_streamed_tool_call_deltas_are_assembled() -> None:
    decoder = OpenAIStreamDecoder()
    pieces = [{"index": 0, "id": "call_9", "type": "function", "function": {"name": "get_labs", "arguments": ""}},
              {"index": 0, "function": {"arguments": '{"ward": '}}, {"index": 0, "function": {"arguments": '"B"}'}}]
    for piece in pieces:
        decoder.feed(SseEvent(None, json.dumps({"choices": [{"delta": {"tool_calls": [piece]}}]})))
    decoder.feed(SseEvent(None, json.dumps({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]})))
    final = decoder.finish()
    assert final.finish_reason == "tool_calls"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in final.tool_calls] == [("call_9", "get_labs", {"ward": "B"})]
