"""What a backend's JSON reply must look like, checked field by field: a reply that does not have the
shape its API promises is a `MalformedReply` (one readable line, never the reply's own text)."""
from __future__ import annotations

import json
from typing import Any


class MalformedReply(ValueError):
    """The backend's reply does not have the shape its API promises."""


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedReply("sent invalid JSON") from exc


def require_field(payload: Any, key: str, kind: type) -> Any:
    value = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(value, kind):
        raise MalformedReply(f"answered JSON without a valid {key!r} field")
    return value


def text_value(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedReply("answered JSON whose text is not a string")
    return value


def token_count(usage: Any, key: str) -> int:
    value = usage.get(key, 0) if isinstance(usage, dict) else 0
    if not isinstance(value, int) or value < 0:
        raise MalformedReply(f"answered a bad token count in {key!r}")
    return value


def error_type_of(payload: Any) -> str:
    """` (type)` of an OpenAI or Anthropic error body; its message is left out on purpose."""
    error = payload.get("error") if isinstance(payload, dict) else None
    kind = (error.get("type") or error.get("code")) if isinstance(error, dict) else None
    return f" ({str(kind)[:80]})" if kind else ""
