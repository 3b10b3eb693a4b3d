"""Closed-loop clients for the load suites: threads calling the real API over loopback, each call kept as
the client saw it (status, request id, whether the whole answer arrived, the error code)."""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from tests.appliance_server import ApplianceServer

MODEL = "smollm2-135m-instruct"
CALL_TIMEOUT_SECONDS = 300  # generous: a shared CI machine may be several times slower than a quiet one


@dataclass(frozen=True)
class Shape:
    """One kind of call: its chat body, streamed or not, and whether the client hangs up mid-stream."""

    name: str
    body: dict[str, Any]
    stream: bool = False
    hang_up: bool = False  # close the connection after the first event (streams only)


def chat_shape(name: str, prompt: str, max_tokens: int, *, stream: bool = False, hang_up: bool = False,
               **extra: Any) -> Shape:
    """A greedy chat call of at most `max_tokens` tokens."""
    body = {"model": MODEL, "max_tokens": max_tokens, "temperature": 0,
            "messages": [{"role": "user", "content": prompt}], **extra}
    if stream:
        body["stream"] = True
    return Shape(name, body, stream=stream, hang_up=hang_up)


@dataclass
class CallResult:
    """One call as its client saw it. `status` is None when no response head arrived."""

    shape: str
    started: float
    ended: float = 0.0
    request_id: str | None = None
    status: int | None = None
    complete: bool = False  # a whole answer: the JSON body, or a stream through `data: [DONE]`
    error: dict[str, Any] | None = None  # the OpenAI error object, from the body or a stream event
    retry_after: str | None = None
    text: str = ""

    @property
    def error_code(self) -> str | None:
        return self.error.get("code") if self.error else None


def _read_events(reply: httpx.Response, result: CallResult, hang_up: bool) -> None:
    """Server-sent events into `result` (text, error, completeness); hang up after the first if asked."""
    for line in reply.iter_lines():
        if not line.startswith("data: "):
            continue
        if hang_up:
            return
        if line == "data: [DONE]":
            result.complete = True
            return
        event = json.loads(line[len("data: "):])
        if "error" in event:
            result.error = event["error"]
            return
        for choice in event.get("choices", []):
            result.text += (choice.get("delta") or {}).get("content") or ""


def _answer(reply: httpx.Response, result: CallResult) -> None:
    body = reply.json()
    if reply.status_code == 200:
        result.text = body["choices"][0]["message"].get("content") or ""
        result.complete = True
    else:
        result.error = body.get("error")


def answered(calls: list[CallResult], shape: str | None = None) -> int:
    """How many calls (of `shape`, or of any) got their whole answer."""
    return sum(c.complete for c in calls if shape is None or c.shape == shape)


def call_once(client: httpx.Client, server: ApplianceServer, shape: Shape) -> CallResult:
    """One call of `shape`; a broken connection leaves the result as far as it got."""
    result = CallResult(shape.name, time.monotonic())
    try:
        with client.stream("POST", server.base_url + "/chat/completions", json=shape.body,
                           headers=server.headers()) as reply:
            result.request_id = reply.headers.get("x-request-id")
            result.status = reply.status_code
            result.retry_after = reply.headers.get("retry-after")
            if shape.stream and reply.status_code == 200:
                _read_events(reply, result, shape.hang_up)
            else:
                reply.read()
                _answer(reply, result)
    except (httpx.TransportError, json.JSONDecodeError):
        result.complete = False
    result.ended = time.monotonic()
    return result


@dataclass
class Load:
    """`clients` threads, each calling in a closed loop through `shapes` (client i starts at shape i) until
    stopped; a 429 is honoured by sleeping its Retry-After. Use as a context manager or start/stop."""

    server: ApplianceServer
    shapes: list[Shape]
    clients: int = 16
    results: list[CallResult] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> "Load":
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[CallResult]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CALL_TIMEOUT_SECONDS + 30)
        return self.snapshot()

    def snapshot(self) -> list[CallResult]:
        with self._lock:
            return list(self.results)

    def wait_for(self, condition: Callable[[list[CallResult]], bool], timeout: float, what: str) -> None:
        """Wait until `condition(results so far)` holds; AssertionError naming `what` after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not condition(self.snapshot()):
            assert time.monotonic() < deadline, f"after {timeout} s of load: still waiting for {what}"
            time.sleep(0.1)

    def run(self, until: Callable[[list[CallResult]], bool], what: str, at_least_seconds: float,
            timeout: float = 600) -> list[CallResult]:
        """Load for `at_least_seconds`, and on until `until(results)` holds (a slow machine takes longer
        rather than failing); stop and return every call."""
        started = time.monotonic()
        with self:
            self._stop.wait(at_least_seconds)
            self.wait_for(until, timeout - (time.monotonic() - started), what)
        return self.snapshot()

    def __enter__(self) -> "Load":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _client(self, number: int) -> None:
        shapes = itertools.islice(itertools.cycle(self.shapes), number % len(self.shapes), None)
        with httpx.Client(timeout=CALL_TIMEOUT_SECONDS) as client:
            for shape in shapes:
                if self._stop.is_set():
                    return
                result = call_once(client, self.server, shape)
                with self._lock:
                    self.results.append(result)
                if result.status == 429:
                    self._stop.wait(float(result.retry_after or 1))
                elif result.status is None:
                    self._stop.wait(0.2)  # the server is gone (killed): do not spin
