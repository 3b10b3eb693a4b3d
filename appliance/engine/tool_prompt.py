"""How a conversation with tools reaches a local model's chat template, and how a call comes back.

A template that handles tools itself (it reads the `tools` variable, as Qwen's or Llama 3.1's do)
gets the tools, the assistant's `tool_calls` and the `tool` messages as it expects them. A template
without tool support (SmolLM2's, for one) gets the appliance's documented tool prompt format:

- a system message section listing each function as JSON (name, description, parameters) and asking
  for a call as one JSON object `{"name": ..., "arguments": {...}}`;
- an earlier assistant call rendered as that same JSON object;
- a tool result as a user message `Result of <name> (call <id>): <content>`.

Either way the answer is constrained by grammar to that JSON object (see `constraints.py`), so a
call always parses and always names an offered function with arguments matching its schema.
"""
from __future__ import annotations

import json
import secrets
from typing import Any

from appliance.routing.base import ChatMessage, ToolCall

TOOL_INSTRUCTIONS = (
    "You can call functions. To call one, answer with only a JSON object of the form "
    '{"name": "<function name>", "arguments": {<arguments>}} and nothing else. Functions:'
)


def template_handles_tools(template: str) -> bool:
    """True when a Jinja chat template renders the `tools` variable itself."""
    return "tools" in template


def native_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Messages in the OpenAI shape tool-aware templates read (arguments as objects)."""
    rendered: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.tool_calls:
            item["tool_calls"] = [{"id": c.id, "type": "function",
                                   "function": {"name": c.name, "arguments": _arguments(c)}}
                                  for c in m.tool_calls]
        if m.tool_call_id:
            item["tool_call_id"] = m.tool_call_id
        rendered.append(item)
    return rendered


def prompted_messages(messages: list[ChatMessage], tools: tuple[dict[str, Any], ...]) -> list[dict[str, str]]:
    """Messages in the appliance's tool prompt format, for a template without tool support."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    rendered = [_prompted(m, names) for m in messages]
    if tools:
        listing = "\n".join(json.dumps(_tool_listing(t), ensure_ascii=False) for t in tools)
        section = f"{TOOL_INSTRUCTIONS}\n{listing}"
        if rendered and rendered[0]["role"] == "system":
            rendered[0] = {"role": "system", "content": f"{rendered[0]['content']}\n\n{section}"}
        else:
            rendered.insert(0, {"role": "system", "content": section})
    return rendered


def _prompted(message: ChatMessage, names: dict[str, str]) -> dict[str, str]:
    if message.tool_calls:
        calls = "\n".join(call_json(c) for c in message.tool_calls)
        return {"role": "assistant", "content": calls}
    if message.role == "tool":
        name = names.get(message.tool_call_id or "", "a function")
        return {"role": "user", "content": f"Result of {name} (call {message.tool_call_id}): {message.content}"}
    return {"role": message.role, "content": message.content}


def _tool_listing(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool["function"]
    listing = {"name": function["name"], "parameters": function.get("parameters") or {"type": "object"}}
    if function.get("description"):
        listing["description"] = function["description"]
    return listing


def call_json(call: ToolCall) -> str:
    return json.dumps({"name": call.name, "arguments": _arguments(call)}, ensure_ascii=False)


def _arguments(call: ToolCall) -> Any:
    """A call's arguments as an object; text when policy redaction left them no longer JSON."""
    try:
        return json.loads(call.arguments)
    except ValueError:
        return call.arguments


def parse_call(text: str, offered: set[str]) -> ToolCall | None:
    """The tool call an answer makes, or None when the answer is prose."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("name") not in offered or not isinstance(value.get("arguments"), dict):
        return None
    return ToolCall(id="call_" + secrets.token_hex(12), name=value["name"],
                    arguments=json.dumps(value["arguments"], ensure_ascii=False))
