"""Grammars (llama.cpp GBNF) that constrain a local answer: JSON, a JSON schema, or a tool call.

A tool call is answered as one JSON object `{"name": <function>, "arguments": {...}}` (the appliance's
tool call format, see `tool_prompt.py`); its grammar only admits the offered functions, each with
its own parameter schema.
"""
from __future__ import annotations

import json
from typing import Any

from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

from appliance.routing.base import OutputOptions, UnsupportedOption

ANY_OBJECT: dict[str, Any] = {"type": "object"}
# "auto": the answer is either a tool call (starts with "{") or prose (starts with anything else).
_PROSE_RULE = 'free-prose ::= [^{ \\t\\n] [^\\x00]*'


def grammar_for(options: OutputOptions) -> str | None:
    """The GBNF text that constrains an answer with these options, or None for free text."""
    if options.offers_tools:
        return _tool_grammar(options)
    kind = (options.response_format or {}).get("type")
    if kind == "json_object":
        return JSON_GBNF
    if kind == "json_schema":
        schema = options.response_format["json_schema"].get("schema") or ANY_OBJECT  # type: ignore[index]
        return schema_grammar(schema, "response_format.json_schema.schema")
    return None


# llama-cpp-python's converter lets raw control characters into strings, which JSON forbids (the
# C++ converter excludes them); its string character rule is narrowed to what JSON allows.
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_JSON_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'


def schema_grammar(schema: dict[str, Any], param: str) -> str:
    """GBNF for a JSON schema; a schema llama.cpp cannot express is a 400 naming `param`."""
    try:
        return json_schema_to_gbnf(json.dumps(schema)).replace(_LOOSE_CHAR, _JSON_CHAR)
    except Exception as exc:  # the converter raises assorted errors on schemas it does not support
        raise UnsupportedOption(f"{param}: this JSON schema cannot be enforced by grammar "
                                f"({type(exc).__name__}: {str(exc)[:200]})", param) from None


def call_schema(tools: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The JSON schema of one call of any of `tools`."""
    variants = [{
        "type": "object",
        "properties": {"name": {"const": tool["function"]["name"]},
                       "arguments": tool["function"].get("parameters") or ANY_OBJECT},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    } for tool in tools]
    return variants[0] if len(variants) == 1 else {"oneOf": variants}


def called_tools(options: OutputOptions) -> tuple[dict[str, Any], ...]:
    """The tools the answer may call under `tool_choice` (all of them, or the named one)."""
    choice = options.tool_choice
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        return tuple(t for t in options.tools if t["function"]["name"] == name)
    return options.tools


def _tool_grammar(options: OutputOptions) -> str:
    call = schema_grammar(call_schema(called_tools(options)), "tools")
    if options.tool_choice in (None, "auto"):
        call = call.replace("root ::=", "tool-call ::=", 1)
        return f"root ::= tool-call | free-prose\n{_PROSE_RULE}\n{call}"
    return call
