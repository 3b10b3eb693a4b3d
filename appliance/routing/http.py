"""Backends reached over HTTP: the transport every wire format shares (httpx client, TLS trust,
server-sent events, timeouts, errors). What to POST and how to read the reply is the `Wire`'s job
(`openai_wire.py`, `anthropic_wire.py`).

Connections go through ordinary sockets, so the process egress guard sees and judges every one.
Errors become BackendError with one readable line naming the backend; upstream error messages are
never copied into it (they can echo the prompt), only the HTTP status and the error type.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, AsyncIterator, Protocol

import httpx

from appliance.egress import EgressBlocked, Endpoint
from appliance.routing.base import BackendError, Generation, GenerationRequest, StreamDelta
from appliance.routing.replies import MalformedReply, error_type_of, parse_json
from policies.vocabulary import Zone

DEFAULT_TIMEOUT_S = 120.0


@dataclass
class SseEvent:
    name: str | None
    data: str


class StreamDecoder(Protocol):
    """Turns one stream's SSE events into deltas; `finish()` gives the closing delta."""

    def feed(self, event: SseEvent) -> list[StreamDelta]: ...

    @property
    def done(self) -> bool: ...

    def finish(self) -> StreamDelta: ...


class Wire(Protocol):
    """One API dialect: where to POST, which headers, the request body and how to read replies."""

    def path(self, request: GenerationRequest) -> str: ...

    def headers(self, api_key: str | None) -> dict[str, str]: ...

    def body(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]: ...

    def parse(self, payload: Any) -> Generation: ...

    def decoder(self, request: GenerationRequest) -> StreamDecoder: ...


class HttpBackend:
    """A backend behind an HTTP API in `zone`, speaking `wire`. `base_url` is the server root, with
    or without a trailing `/v1`. `verify`: True (the system trust store), a CA bundle path (a
    facility CA) or False. One connection per request (no pool shared across event loops)."""

    def __init__(self, name: str, zone: Zone, base_url: str, wire: Wire, api_key: str | None = None,
                 model: str | None = None, timeout: float = DEFAULT_TIMEOUT_S, verify: bool | str = True) -> None:
        if timeout <= 0:
            raise ValueError(f"backend {name!r}: timeout must be positive, got {timeout}")
        self.name = name
        self.zone = zone
        self.endpoint = Endpoint.from_url(base_url)  # also refuses a URL that is not http(s)
        self.base_url = _server_root(base_url)
        self.wire = wire
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self._tls = _tls_context(name, verify)

    async def generate(self, request: GenerationRequest) -> Generation:
        async with self._client() as client:
            try:
                response = await client.post(self._url(request), json=self._body(request, False),
                                             headers=self.wire.headers(self.api_key))
            except httpx.HTTPError as exc:
                raise self._error(_transport_problem(exc, self.timeout)) from exc
            await self._check_status(response)
            try:
                return self.wire.parse(parse_json(response.text))
            except MalformedReply as exc:
                raise self._error(str(exc)) from exc

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        decoder = self.wire.decoder(request)
        async with self._client() as client:
            try:
                async with client.stream("POST", self._url(request), json=self._body(request, True),
                                         headers=self.wire.headers(self.api_key)) as response:
                    await self._check_status(response)
                    async for event in _sse_events(response):
                        for delta in decoder.feed(event):
                            yield delta
                        if decoder.done:
                            break
            except httpx.HTTPError as exc:
                raise self._error(_transport_problem(exc, self.timeout)) from exc
            except MalformedReply as exc:
                raise self._error(str(exc)) from exc
        try:
            final = decoder.finish()
        except MalformedReply as exc:
            raise self._error(str(exc)) from exc
        yield final

    def _client(self) -> httpx.AsyncClient:
        # trust_env=False: no proxy or netrc from the environment; the base URL is the destination.
        return httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), trust_env=False, verify=self._tls)

    def _url(self, request: GenerationRequest) -> str:
        return self.base_url + self.wire.path(request)

    def _body(self, request: GenerationRequest, stream: bool) -> dict[str, Any]:
        return self.wire.body(request, self.model or request.model, stream)

    async def _check_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        await response.aread()
        raise self._error(f"answered HTTP {response.status_code}{_error_type(response)}")

    def _error(self, problem: str) -> BackendError:
        return BackendError(f"backend {self.name!r} ({self.zone}, {self.endpoint}): {problem}")


async def _sse_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """Server-sent events: `event:` and `data:` fields, dispatched at each blank line."""
    name: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield SseEvent(name, "\n".join(data))
            name, data = None, []
        elif line.startswith(":"):
            continue
        else:
            field_name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field_name == "event":
                name = value
            elif field_name == "data":
                data.append(value)
    if data:
        yield SseEvent(name, "\n".join(data))


def _tls_context(name: str, verify: bool | str) -> ssl.SSLContext | bool:
    """Built once per backend (loading a CA bundle per request would cost more than the request)."""
    if verify is False:
        return False
    cafile = verify if isinstance(verify, str) else None  # None: the system's trust store
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"backend {name!r}: cannot load the CA bundle {cafile!r} ({type(exc).__name__})") from exc


def _server_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def _error_type(response: httpx.Response) -> str:
    try:
        return error_type_of(response.json())
    except ValueError:
        return ""


def _transport_problem(exc: httpx.HTTPError, timeout: float) -> str:
    blocked = _egress_block(exc)
    if blocked is not None:
        return f"egress guard blocked the connection ({blocked.reason})"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect (server down or unreachable)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "closed the connection mid-reply"
    return f"transport error ({type(exc).__name__})"


def _egress_block(exc: BaseException) -> EgressBlocked | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, EgressBlocked):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
