"""OpenAI response objects for chat and text completions: whole answers, stream chunks, usage,
tool calls and logprobs."""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from appliance.routing.base import StreamDelta, TokenLogprob, ToolCall


class AnswerFraming:
    """Builds the response objects of one call (chat or text completion)."""

    def __init__(self, chat: bool, request_id: str, model: str) -> None:
        self.chat = chat
        self.id = ("chatcmpl-" if chat else "cmpl-") + request_id.removeprefix("req_")
        self.created = int(time.time())
        self.model = model

    def _envelope(self, obj: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model, "choices": choices}

    def full(self, text: str, finish: str, counts: StreamDelta,
             tool_calls: list[ToolCall], logprobs: list[TokenLogprob] | None) -> dict[str, Any]:
        if self.chat:
            message: dict[str, Any] = {"role": "assistant", "content": text if text or not tool_calls else None}
            if tool_calls:
                message["tool_calls"] = [_tool_call_json(c) for c in tool_calls]
            choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish,
                                      "logprobs": self.logprobs(logprobs)}
        else:
            choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": self.logprobs(logprobs)}
        body = self._envelope("chat.completion" if self.chat else "text_completion", [choice])
        body["usage"] = _usage(counts)
        return body

    def chunk(self, text: str | None, finish: str | None = None, *, first: bool = False,
              tool_calls: Sequence[ToolCall] = (), logprobs: list[TokenLogprob] | None = None) -> dict[str, Any]:
        if not self.chat:
            return self._envelope("text_completion", [{"index": 0, "text": text or "", "finish_reason": finish,
                                                       "logprobs": self.logprobs(logprobs)}])
        delta: dict[str, Any] = {"role": "assistant", "content": text or ""} if first else (
            {"content": text} if text else {})
        if tool_calls:
            delta["tool_calls"] = [{"index": i, **_tool_call_json(c)} for i, c in enumerate(tool_calls)]
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": self.logprobs(logprobs)}
        return self._envelope("chat.completion.chunk", [choice])

    def usage_chunk(self, counts: StreamDelta) -> dict[str, Any]:
        body = self._envelope("chat.completion.chunk" if self.chat else "text_completion", [])
        body["usage"] = _usage(counts)
        return body

    def logprobs(self, entries: list[TokenLogprob] | None) -> dict[str, Any] | None:
        """Chat: {"content": [...], "refusal": None}; text completions: the legacy parallel lists."""
        if entries is None:
            return None
        if self.chat:
            return {"content": [_chat_logprob(e) for e in entries], "refusal": None}
        offsets, at = [], 0
        for entry in entries:
            offsets.append(at)
            at += len(entry.token)
        return {"tokens": [e.token for e in entries], "token_logprobs": [e.logprob for e in entries],
                "top_logprobs": [dict(e.top) for e in entries], "text_offset": offsets}


class LogprobRelease:
    """Hands out token logprobs as the text they cover is released to the client.

    The answer guard may hold text back, redact it or restore placeholders; logprobs describe the
    model's raw tokens, so they are given only while the released text is the raw text, token by
    token (a transformed answer gets no further logprobs: they would disclose what policy changed)."""

    def __init__(self, wanted: bool) -> None:
        self.wanted = wanted
        self._pending: list[TokenLogprob] = []
        self._raw = ""
        self._released = ""
        self._given_chars = 0
        self._intact = True

    def add(self, raw_text: str, entries: list[TokenLogprob]) -> None:
        self._raw += raw_text
        self._pending.extend(entries)

    def release(self, text: str) -> list[TokenLogprob] | None:
        """Entries covered by `text`, the next piece sent to the client (None: no logprobs)."""
        if not self.wanted:
            return None
        self._released += text
        self._intact = self._intact and self._raw.startswith(self._released)
        if not self._intact:
            return None
        out = []
        while self._pending and self._given_chars + len(self._pending[0].token) <= len(self._released):
            entry = self._pending.pop(0)
            self._given_chars += len(entry.token)
            out.append(entry)
        return out


def _tool_call_json(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _chat_logprob(entry: TokenLogprob) -> dict[str, Any]:
    return {"token": entry.token, "logprob": entry.logprob, "bytes": list(entry.token.encode("utf-8")),
            "top_logprobs": [{"token": t, "logprob": p, "bytes": list(t.encode("utf-8"))} for t, p in entry.top]}


def _usage(counts: StreamDelta) -> dict[str, Any]:
    """OpenAI's usage object from the last delta's counts (`cached_tokens`: prompt tokens not evaluated again)."""
    return {"prompt_tokens": counts.prompt_tokens, "completion_tokens": counts.completion_tokens,
            "total_tokens": counts.prompt_tokens + counts.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": counts.cached_prompt_tokens}}
