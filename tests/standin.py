"""Stand-ins for hosts that cannot exist here (an internal vLLM fleet, a cloud API, a DNS server),
listening on loopback addresses such as 127.0.0.2 and 127.0.0.3.

Each records everything it receives, so a test can assert what reached it (or that nothing did):

    with StandIn("127.0.0.2") as s:
        ... s.url ... s.requests ... s.connections

The HTTP stand-in speaks the OpenAI API (POST /v1/chat/completions, /v1/completions, GET /v1/models)
and the Anthropic Messages API (POST /v1/messages), non-streaming and SSE. Its answer is deterministic:
by default it echoes the last user message (placeholders such as `[PERSON_1]` come back verbatim, so a
redaction round-trip can be checked). `fault` makes it misbehave on purpose.
"""
from __future__ import annotations

import ipaddress
import json
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Literal, Sequence

Fault = Literal["http_500", "bad_json", "truncated_stream", "hang"]
HANG_SECONDS = 2.0
ReplyFn = Callable[[str], str]


def _loopback_only(host: str) -> str:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"stand-ins listen on loopback addresses only, not {host!r}")
    return host


def _serve(server: socketserver.BaseServer, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    return thread


def echo_reply(prompt: str) -> str:
    return f"Stand-in heard: {prompt}"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it was not JSON

    @property
    def prompt_text(self) -> str:
        return _prompt_of(self.body) if isinstance(self.body, dict) else ""


@dataclass
class _Answer:
    text: str
    finish: Literal["stop", "length"]
    prompt_tokens: int
    completion_tokens: int


class StandIn:
    """A threaded OpenAI-compatible and Anthropic-style HTTP server on `host` (a loopback address)."""

    def __init__(self, host: str = "127.0.0.2", port: int = 0, reply: ReplyFn = echo_reply,
                 api_key: str | None = None, model: str = "standin-model") -> None:
        self.host = _loopback_only(host)
        self.port = port
        self.reply = reply
        self.api_key = api_key
        self.model = model
        self.fault: Fault | None = None
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> StandIn:
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = _serve(self._server, f"standin-{self.host}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def answer(self, prompt: str, max_tokens: int | None) -> _Answer:
        words = self.reply(prompt).split(" ")
        finish: Literal["stop", "length"] = "stop"
        if max_tokens is not None and len(words) > max_tokens:
            words, finish = words[:max_tokens], "length"
        return _Answer(" ".join(words), finish, len(prompt.split()), len(words))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, standin: StandIn) -> None:
        self.standin = standin
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """As HTTPServer's, minus its reverse DNS lookup (getfqdn), which would leave loopback."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.standin._count_connection()
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    @property
    def standin(self) -> StandIn:
        return self.server.standin

    def do_GET(self) -> None:
        self._record(None)
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": self.standin.model, "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        self._record(body)
        routes = {"/v1/chat/completions": self._openai, "/v1/completions": self._openai,
                  "/v1/messages": self._anthropic}
        route = routes.get(self.path)
        if route is None:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        elif not isinstance(body, dict):
            self._json(400, {"error": {"message": "body is not a JSON object", "type": "invalid_request_error"}})
        elif self.standin.fault == "hang":  # answer nothing for a while, then drop the connection
            time.sleep(HANG_SECONDS)
            self.close_connection = True
        elif self.standin.fault == "http_500":
            self._json(500, {"error": {"message": "stand-in failure", "type": "server_error"}})
        elif self.standin.fault == "bad_json":
            self._send(200, "application/json", b"{this is not json")
        else:
            route(body)

    # -- OpenAI --------------------------------------------------------------------------------

    def _openai(self, body: dict) -> None:
        key = self.standin.api_key
        if key is not None and self.headers.get("Authorization") != f"Bearer {key}":
            self._json(401, {"error": {"message": "bad api key", "type": "invalid_api_key"}})
            return
        chat = self.path == "/v1/chat/completions"
        answer = self.standin.answer(_prompt_of(body), body.get("max_tokens"))
        usage = {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                 "total_tokens": answer.prompt_tokens + answer.completion_tokens}
        base = {"id": "standin-1", "created": 0, "model": body.get("model", self.standin.model)}
        if not body.get("stream"):
            choice = ({"message": {"role": "assistant", "content": answer.text}} if chat else {"text": answer.text})
            self._json(200, {**base, "object": "chat.completion" if chat else "text_completion",
                             "choices": [{"index": 0, **choice, "finish_reason": answer.finish}], "usage": usage})
            return
        kind = "chat.completion.chunk" if chat else "text_completion"

        def chunk(text: str | None, finish: str | None) -> dict:
            part = ({"delta": {"content": text} if text is not None else {}} if chat else {"text": text or ""})
            return {**base, "object": kind, "choices": [{"index": 0, **part, "finish_reason": finish}]}

        events = [(None, chunk(piece, None)) for piece in _pieces(answer.text)]
        events.append((None, chunk(None, answer.finish)))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, {**base, "object": kind, "choices": [], "usage": usage}))
        self._sse(events, done_marker=True)

    # -- Anthropic -----------------------------------------------------------------------------

    def _anthropic(self, body: dict) -> None:
        key = self.headers.get("x-api-key")
        if not key or not self.headers.get("anthropic-version") or self.standin.api_key not in (None, key):
            self._anthropic_error(401, "authentication_error", "bad api key")
            return
        if not isinstance(body.get("max_tokens"), int):
            self._anthropic_error(400, "invalid_request_error", "max_tokens: required")
            return
        answer = self.standin.answer(_prompt_of(body), body["max_tokens"])
        stop = "end_turn" if answer.finish == "stop" else "max_tokens"
        message = {"id": "msg_standin", "type": "message", "role": "assistant", "model": body.get("model")}
        usage = {"input_tokens": answer.prompt_tokens, "output_tokens": answer.completion_tokens}
        if not body.get("stream"):
            self._json(200, {**message, "content": [{"type": "text", "text": answer.text}],
                             "stop_reason": stop, "stop_sequence": None, "usage": usage})
            return
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        events = [_event("message_start", message=start),
                  _event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
                  _event("ping")]
        events += [_event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece})
                   for piece in _pieces(answer.text)]
        events += [_event("content_block_stop", index=0),
                   _event("message_delta", delta={"stop_reason": stop, "stop_sequence": None},
                          usage={"output_tokens": answer.completion_tokens}),
                   _event("message_stop")]
        self._sse(events, done_marker=False)

    # -- wire helpers --------------------------------------------------------------------------

    def _anthropic_error(self, status: int, kind: str, message: str) -> None:
        self._json(status, {"type": "error", "error": {"type": kind, "message": message}})

    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.standin._record(RecordedRequest(self.command, self.path, headers, body))

    def _json(self, status: int, payload: dict) -> None:
        self._send(status, "application/json", json.dumps(payload).encode())

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: Sequence[tuple[str | None, dict]], done_marker: bool) -> None:
        """Send `events` as a chunked text/event-stream; `truncated_stream` stops after the first."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        frames = [(f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n" for name, data in events]
        if done_marker:
            frames.append("data: [DONE]\n\n")
        if self.standin.fault == "truncated_stream":
            frames = frames[:1]
        for frame in frames:
            data = frame.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True


def _prompt_of(body: dict) -> str:
    """The text the stand-in answers: a completion's prompt or the last user message's text."""
    if isinstance(body.get("prompt"), str):
        return body["prompt"]
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # Anthropic content blocks
                return "".join(b.get("text", "") for b in content if isinstance(b, dict))
            return str(content)
    return ""


def _event(kind: str, **fields: Any) -> tuple[str, dict]:
    """An Anthropic stream event: its SSE event name and its data (which repeats the name as `type`)."""
    return kind, {"type": kind, **fields}


def _pieces(text: str) -> list[str]:
    """Split into word-sized pieces that join back to `text` exactly."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


# -- DNS ---------------------------------------------------------------------------------------


@dataclass
class StandInDNS:
    """A UDP DNS server on `host`:53 that records every query name and answers NXDOMAIN."""

    host: str = "127.0.0.2"
    port: int = 53
    queries: list[str] = field(default_factory=list)

    def __enter__(self) -> StandInDNS:
        standin = self
        _loopback_only(self.host)

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                standin.queries.append(_question(data)[0])
                sock.sendto(_nxdomain(data), self.client_address)

        self._server = socketserver.ThreadingUDPServer((self.host, self.port), Handler)
        self._thread = _serve(self._server, "standin-dns")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _question(packet: bytes) -> tuple[str, int]:
    """The first question's name and the offset where the question (name, type, class) ends."""
    labels, at = [], 12
    while at < len(packet) and packet[at]:
        length = packet[at]
        labels.append(packet[at + 1:at + 1 + length].decode("ascii", "replace"))
        at += 1 + length
    return ".".join(labels), at + 5


def _nxdomain(query: bytes) -> bytes:
    """The query turned into a response: QR set, recursion available, RCODE 3, question kept."""
    ident, flags = struct.unpack("!HH", query[:4])
    reply_flags = 0x8000 | (flags & 0x0100) | 0x0080 | 3
    return struct.pack("!HHHHHH", ident, reply_flags, 1, 0, 0, 0) + query[12:_question(query)[1]]


__all__ = ["StandIn", "StandInDNS", "RecordedRequest", "echo_reply"]
