"""HTTP backends (internal upstream, external OpenAI- and Anthropic-style) against stand-in servers
on 127.0.0.2 / 127.0.0.3, and the router's choices."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterator

import pytest

from appliance.routing.base import Backend, BackendError, ChatMessage, GenerationRequest, StreamDelta
from appliance.routing.external import ExternalBackend
from appliance.routing.http import HttpBackend
from appliance.routing.router import RouteRule, Router, UnknownModel, parse_task_hint
from appliance.routing.upstream import UpstreamBackend
from tests.standin import StandIn

PROMPT = "Summarise the note for [PERSON_1] seen on [DATE_1]"
ECHO = f"Stand-in heard: {PROMPT}"


def chat(max_tokens: int | None = None) -> GenerationRequest:
    return GenerationRequest(model="fleet-model", max_tokens=max_tokens, messages=[
        ChatMessage("system", "Answer briefly."), ChatMessage("user", PROMPT)])


def collect(backend: Backend, request: GenerationRequest) -> list[StreamDelta]:
    async def run() -> list[StreamDelta]:
        return [delta async for delta in backend.stream(request)]
    return asyncio.run(run())


@pytest.fixture
def fleet() -> Iterator[StandIn]:
    with StandIn("127.0.0.2", api_key="fleet-key") as standin:
        yield standin


@pytest.fixture
def cloud() -> Iterator[StandIn]:
    with StandIn("127.0.0.3", api_key="cloud-key") as standin:
        yield standin


def all_styles(fleet: StandIn, cloud: StandIn) -> list[HttpBackend]:
    return [UpstreamBackend("fleet", fleet.url, api_key="fleet-key", model="served-model"),
            ExternalBackend("cloud-openai", cloud.url + "/v1", style="openai", api_key="cloud-key"),
            ExternalBackend("cloud-anthropic", cloud.url, style="anthropic", api_key="cloud-key", model="claude-x")]


# -- UpstreamBackend (OpenAI-compatible) --------------------------------------------------------


def test_upstream_generate_sends_an_openai_chat_request(fleet: StandIn) -> None:
    backend = UpstreamBackend("fleet", fleet.url, api_key="fleet-key", model="served-model")
    result = asyncio.run(backend.generate(chat()))
    assert (result.text, result.finish_reason) == (ECHO, "stop")
    assert (result.prompt_tokens, result.completion_tokens) == (len(PROMPT.split()), len(ECHO.split()))
    assert backend.zone == "internal"
    [sent] = fleet.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer fleet-key"
    assert sent.body["model"] == "served-model"
    assert sent.body["messages"] == [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": PROMPT}]
    assert "stream" not in sent.body


def test_upstream_stream_yields_pieces_then_finish_with_counts(fleet: StandIn) -> None:
    deltas = collect(UpstreamBackend("fleet", fleet.url, api_key="fleet-key"), chat())
    assert "".join(d.text for d in deltas) == ECHO
    assert len(deltas) > 2 and all(d.finish_reason is None for d in deltas[:-1])
    assert deltas[-1].finish_reason == "stop"
    assert (deltas[-1].prompt_tokens, deltas[-1].completion_tokens) == (len(PROMPT.split()), len(ECHO.split()))
    [sent] = fleet.requests
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["model"] == "fleet-model"  # no backend model configured: the request's is sent


def test_upstream_text_completion_and_length_limit(fleet: StandIn) -> None:
    backend = UpstreamBackend("fleet", fleet.url, api_key="fleet-key")
    request = GenerationRequest(model="m", messages=[], prompt="Once upon a time", max_tokens=3)
    result = asyncio.run(backend.generate(request))
    assert (result.text, result.finish_reason) == ("Stand-in heard: Once", "length")
    streamed = collect(backend, request)
    assert "".join(d.text for d in streamed) == "Stand-in heard: Once"
    assert streamed[-1].finish_reason == "length"
    assert [r.path for r in fleet.requests] == ["/v1/completions", "/v1/completions"]
    assert fleet.requests[0].body["prompt"] == "Once upon a time"
    assert fleet.requests[0].body["max_tokens"] == 3


# -- ExternalBackend ----------------------------------------------------------------------------


def test_external_openai_style_generate_and_stream(cloud: StandIn) -> None:
    backend = ExternalBackend("cloud", cloud.url + "/v1", style="openai", api_key="cloud-key", model="gpt-x")
    assert backend.zone == "external"
    assert asyncio.run(backend.generate(chat())).text == ECHO
    assert "".join(d.text for d in collect(backend, chat())) == ECHO
    assert [r.path for r in cloud.requests] == ["/v1/chat/completions"] * 2
    assert all(r.headers["authorization"] == "Bearer cloud-key" and r.body["model"] == "gpt-x" for r in cloud.requests)


def test_external_anthropic_style_splits_system_and_sends_its_headers(cloud: StandIn) -> None:
    backend = ExternalBackend("cloud", cloud.url, style="anthropic", api_key="cloud-key", model="claude-x")
    result = asyncio.run(backend.generate(chat()))
    assert (result.text, result.finish_reason) == (ECHO, "stop")
    assert (result.prompt_tokens, result.completion_tokens) == (len(PROMPT.split()), len(ECHO.split()))
    [sent] = cloud.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == "cloud-key"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.body["system"] == "Answer briefly."
    assert sent.body["messages"] == [{"role": "user", "content": PROMPT}]
    assert sent.body["model"] == "claude-x" and sent.body["max_tokens"] == 1024


def test_external_anthropic_style_stream_and_max_tokens(cloud: StandIn) -> None:
    backend = ExternalBackend("cloud", cloud.url, style="anthropic", api_key="cloud-key")
    deltas = collect(backend, chat())
    assert "".join(d.text for d in deltas) == ECHO
    assert (deltas[-1].finish_reason, deltas[-1].prompt_tokens, deltas[-1].completion_tokens) == (
        "stop", len(PROMPT.split()), len(ECHO.split()))
    short = collect(backend, chat(max_tokens=2))
    assert "".join(d.text for d in short) == "Stand-in heard:"
    assert short[-1].finish_reason == "length"
    assert cloud.requests[0].body["stream"] is True


def test_external_backend_configuration_errors() -> None:
    with pytest.raises(ValueError, match="anthropic style needs an api_key"):
        ExternalBackend("cloud", "http://127.0.0.3:8000", style="anthropic")
    with pytest.raises(ValueError, match="style 'grpc'"):
        ExternalBackend("cloud", "http://127.0.0.3:8000", style="grpc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an http"):
        UpstreamBackend("fleet", "127.0.0.2:8000")
    with pytest.raises(ValueError, match="timeout must be positive"):
        UpstreamBackend("fleet", "http://127.0.0.2:8000", timeout=0)


# -- errors -------------------------------------------------------------------------------------


def test_server_down_is_a_backend_error_naming_the_backend() -> None:
    with StandIn("127.0.0.2") as gone:
        url = gone.url
    backend = UpstreamBackend("fleet", url)
    with pytest.raises(BackendError, match=r"backend 'fleet' \(internal, 127\.0\.0\.2:\d+\): cannot connect"):
        asyncio.run(backend.generate(chat()))
    with pytest.raises(BackendError, match="cannot connect"):
        collect(backend, chat())


@pytest.mark.parametrize("fault, problem", [("http_500", r"answered HTTP 500 \(server_error\)"),
                                            ("bad_json", "sent invalid JSON")])
def test_server_faults_are_backend_errors_in_every_style(fleet: StandIn, cloud: StandIn, fault: str, problem: str) -> None:
    fleet.fault = cloud.fault = fault  # type: ignore[assignment]
    for backend in all_styles(fleet, cloud):
        with pytest.raises(BackendError, match=rf"backend '{backend.name}' .*: {problem}") as raised:
            asyncio.run(backend.generate(chat()))
        assert "stand-in failure" not in str(raised.value)  # the upstream's own message is not copied
        assert "PERSON_1" not in str(raised.value)
        if fault == "http_500":
            with pytest.raises(BackendError, match=problem):
                collect(backend, chat())


def test_truncated_stream_is_a_backend_error_in_every_style(fleet: StandIn, cloud: StandIn) -> None:
    fleet.fault = cloud.fault = "truncated_stream"
    for backend in all_styles(fleet, cloud):
        with pytest.raises(BackendError, match=rf"backend '{backend.name}' .*: ended the stream before"):
            collect(backend, chat())


def test_silent_server_is_a_timeout_backend_error(fleet: StandIn) -> None:
    fleet.fault = "hang"
    backend = UpstreamBackend("fleet", fleet.url, timeout=0.2)
    with pytest.raises(BackendError, match=r"backend 'fleet' .*: no answer within 0.2s"):
        asyncio.run(backend.generate(chat()))


def test_unreadable_ca_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot load the CA bundle"):
        UpstreamBackend("fleet", "https://127.0.0.2:8443", verify=str(tmp_path / "missing-ca.pem"))


def test_wrong_api_key_is_a_backend_error(fleet: StandIn, cloud: StandIn) -> None:
    with pytest.raises(BackendError, match=r"answered HTTP 401 \(invalid_api_key\)"):
        asyncio.run(UpstreamBackend("fleet", fleet.url, api_key="wrong").generate(chat()))
    with pytest.raises(BackendError, match=r"answered HTTP 401 \(authentication_error\)"):
        asyncio.run(ExternalBackend("cloud", cloud.url, style="anthropic", api_key="wrong").generate(chat()))


# -- router -------------------------------------------------------------------------------------


class Named:
    """A backend identity for routing decisions (the router never calls generate)."""

    def __init__(self, name: str, zone: str) -> None:
        self.name, self.zone = name, zone


@pytest.fixture
def router() -> Router:
    backends = {"local": Named("local", "local"),
                "fleet": UpstreamBackend("fleet", "http://127.0.0.2:8000"),
                "cloud": ExternalBackend("cloud", "http://127.0.0.3:8000", style="anthropic", api_key="k")}
    return Router.from_config(backends, {
        "default": "local",
        "aliases": {"llama-3.2-1b": "local", "fleet-70b": "fleet", "auto": "local"},
        "rules": [
            {"backend": "cloud", "when": {"aliases": ["auto"], "task_hint": "complex"}},
            {"backend": "fleet", "when": {"aliases": ["auto"], "min_prompt_chars": 4000}},
            {"backend": "local", "when": {"task_hint": "simple"}},
        ],
    })


def names(backends: list) -> list[str]:
    return [b.name for b in backends]


def test_router_follows_the_alias(router: Router) -> None:
    assert router.route("fleet-70b", 100).name == "fleet"
    assert router.route("llama-3.2-1b", 100).name == "local"
    assert names(router.candidates("fleet-70b", 100)) == ["fleet", "local"]
    with pytest.raises(UnknownModel, match="model 'gpt-9' is not configured.*auto, fleet-70b, llama-3.2-1b"):
        router.route("gpt-9", 100)


def test_router_uses_task_hint_and_falls_back_to_local(router: Router) -> None:
    assert names(router.candidates("auto", 100, "complex")) == ["cloud", "local"]
    assert router.route("auto", 100, "simple").name == "local"
    assert names(router.candidates("fleet-70b", 100, "simple")) == ["local", "fleet"]
    assert router.route("auto", 100).name == "local"


def test_router_uses_prompt_size(router: Router) -> None:
    assert router.route("auto", 3999).name == "local"
    assert names(router.candidates("auto", 4000)) == ["fleet", "local"]
    assert names(router.candidates("auto", 9000, "complex")) == ["cloud", "fleet", "local"]


def test_router_refuses_bad_configuration() -> None:
    backends = {"local": Named("local", "local")}
    with pytest.raises(ValueError, match="alias 'big' names backend 'cloud', which is not configured"):
        Router(backends, {"big": "cloud"}, [], "local")
    with pytest.raises(ValueError, match="the default names backend 'gpu'"):
        Router(backends, {}, [], "gpu")
    with pytest.raises(ValueError, match="model aliases typo are not configured"):
        Router(backends, {"auto": "local"}, [RouteRule("local", aliases=frozenset({"typo"}))], "local")
    with pytest.raises(ValueError, match="unknown keys max_tokens"):
        RouteRule.from_dict({"backend": "local", "when": {"max_tokens": 5}})
    with pytest.raises(ValueError, match="task hint 'hard'"):
        RouteRule("local", task_hint="hard")
    with pytest.raises(ValueError, match="min_prompt_chars must be below"):
        RouteRule("local", min_prompt_chars=10, max_prompt_chars=10)


def test_task_hint_header_values() -> None:
    assert parse_task_hint(" Complex ") == "complex"
    assert parse_task_hint(None) is None and parse_task_hint("") is None
    with pytest.raises(ValueError, match="task hint 'urgent' is not one of simple, complex"):
        parse_task_hint("urgent")
