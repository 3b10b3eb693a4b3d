"""What a model can do, as `/v1/models` reports it: chat, completions, embeddings, tools, json_schema.

Read from the registry entry (its kind) and the GGUF header (chat template, embedding width), once
per model file.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from appliance.engine.gguf import read_gguf_header
from appliance.engine.registry import ModelEntry
from appliance.engine.tool_prompt import template_handles_tools


def local_capabilities(entry: ModelEntry) -> dict[str, Any]:
    return _capabilities(entry.path, entry.sha256, entry.kind)


@lru_cache(maxsize=64)
def _capabilities(path: Path, sha256: str, kind: str) -> dict[str, Any]:
    metadata = read_gguf_header(path).metadata
    if kind == "embedding":
        width = metadata.get(f"{metadata.get('general.architecture')}.embedding_length")
        return {"chat": False, "completions": False, "embeddings": True, "tools": False, "json_schema": False,
                "dimensions": width}
    template = metadata.get("tokenizer.chat_template")
    if not isinstance(template, str):
        template = ""
    chat = bool(template)
    tool_format = ("template" if template_handles_tools(template) else "appliance-prompt") if chat else None
    return {"chat": chat, "completions": True, "embeddings": False, "tools": chat, "tool_format": tool_format,
            "json_schema": True}


def remote_capabilities(style: str) -> dict[str, Any]:
    """A backend reached over HTTP: tools and response_format are forwarded in its own form (the
    OpenAI dialect); the Anthropic dialect gets neither (refused with a 400 naming the field)."""
    openai = style == "openai"
    return {"chat": True, "completions": openai, "embeddings": False, "tools": openai, "json_schema": openai}
