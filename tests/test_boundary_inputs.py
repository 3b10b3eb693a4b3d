"""Bad inputs at the HTTP boundary: each gets a clear answer (OpenAI error JSON where there is a
request to answer), never a 5xx, within bounded time, and the server keeps serving."""
from __future__ import annotations

import json

import httpx
import pytest

from tests.appliance_server import ApplianceServer
from tests.raw_http import RawReply, chunked, exchange, head

pytestmark = [pytest.mark.slow, pytest.mark.boundary]

MODEL = "smollm2-135m-instruct"
TEN_MB = 10 * 1024 * 1024


def post_raw(server: ApplianceServer, body: bytes, **headers: str) -> RawReply:
    fields = {"Host": "appliance", "Content-Type": "application/json", **server.headers(), **headers}
    fields.setdefault("Content-Length", str(len(body)))
    return exchange(server.host, server.port, head("POST", "/v1/chat/completions", fields), [body])


def assert_still_serving(server: ApplianceServer) -> None:
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200


def test_invalid_utf8_body_is_a_400_naming_the_byte(boundary_server: ApplianceServer) -> None:
    body = b'{"model": "' + MODEL.encode() + b'", "messages": [{"role": "user", "content": "\xff\xfe\xc3("}]}'
    reply = post_raw(boundary_server, body)
    assert reply.status == 400, reply
    error, first_bad = reply.json()["error"], body.index(b"\xff")
    assert error["code"] == "invalid_encoding" and f"byte {first_bad}" in error["message"]
    assert_still_serving(boundary_server)


def test_ten_megabytes_declared_is_413_before_any_byte_is_read(boundary_server: ApplianceServer) -> None:
    fields = {"Host": "appliance", "Content-Type": "application/json", "Content-Length": str(TEN_MB)}
    reply = exchange(boundary_server.host, boundary_server.port, head("POST", "/v1/chat/completions", fields))
    assert reply.status == 413 and reply.sent == 0
    assert reply.json()["error"]["code"] == "request_too_large"
    assert_still_serving(boundary_server)


def test_ten_megabytes_chunked_with_a_key_is_413_too(boundary_server: ApplianceServer) -> None:
    fields = {"Host": "appliance", "Content-Type": "application/json", "Transfer-Encoding": "chunked",
              **boundary_server.headers()}
    pieces = (b" " * 65536 for _ in range(TEN_MB // 65536))
    reply = exchange(boundary_server.host, boundary_server.port, head("POST", "/v1/chat/completions", fields),
                     chunked(pieces))
    assert reply.status == 413, reply
    assert reply.json()["error"]["message"] == "Request body exceeds the limit of 1048576 bytes."
    assert_still_serving(boundary_server)


def test_deeply_nested_json_is_a_clear_400(boundary_server: ApplianceServer) -> None:
    depth = 100_000
    nested = b'{"model": "' + MODEL.encode() + b'", "messages": ' + b"[" * depth + b"]" * depth + b"}"
    reply = post_raw(boundary_server, nested)
    assert reply.status == 400, reply
    assert reply.json()["error"]["code"] == "invalid_json" and "nested too deeply" in reply.json()["error"]["message"]
    assert_still_serving(boundary_server)


def test_huge_headers_are_refused_and_the_server_keeps_serving(boundary_server: ApplianceServer) -> None:
    fields = {"Host": "appliance", "X-Padding": "a" * 200_000}
    reply = exchange(boundary_server.host, boundary_server.port, head("GET", "/healthz", fields), timeout=30)
    assert reply.status in (400, 431, None), reply  # refused (or the connection dropped), never served
    assert reply.seconds < 30
    assert_still_serving(boundary_server)


def test_a_slow_body_is_cut_off_in_bounded_time(boundary_server: ApplianceServer) -> None:
    fields = {"Host": "appliance", "Content-Type": "application/json", "Content-Length": "200",
              **boundary_server.headers()}
    reply = exchange(boundary_server.host, boundary_server.port, head("POST", "/v1/chat/completions", fields),
                     (b" " for _ in range(200)), pause=0.25, timeout=40)
    assert reply.status == 408, reply
    assert reply.seconds < 15
    assert_still_serving(boundary_server)


def test_a_thousand_one_character_messages_get_a_clear_answer(boundary_server: ApplianceServer) -> None:
    messages = [{"role": "user", "content": chr(ord("a") + i % 26)} for i in range(1000)]
    reply = httpx.post(boundary_server.base_url + "/chat/completions", headers=boundary_server.headers(), timeout=300,
                       json={"model": MODEL, "max_tokens": 1, "messages": messages})
    assert reply.status_code == 400, reply.text  # 1,000 turns do not fit a 512-token context
    assert reply.json()["error"]["code"] == "context_length_exceeded"
    scanned = httpx.post(boundary_server.base_url + "/scan", headers=boundary_server.headers(), timeout=300,
                         json={"text": json.dumps(messages)})
    assert scanned.status_code == 200
    assert_still_serving(boundary_server)
