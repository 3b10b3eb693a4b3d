"""Findings of the boundary review (issue 14: 1, 2, 3, 6, 9), each probed against a real server on
loopback: bodies counted as they arrive, refusals that cannot write caller text into the signed log,
client addresses that cannot be forged, the serving process's own restrictions, terse unauthenticated
probes."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from appliance.cli.main import uvicorn_options
from appliance.config import ServerConfig
from tests.appliance_server import ApplianceServer, init_data_dir, run_cli
from tests.raw_http import chunked, exchange, head

pytestmark = [pytest.mark.slow, pytest.mark.boundary]

MODEL = "smollm2-135m-instruct"
PHI_PATH_SEGMENT = "Jane-Roe-MRN-48213377"


def auditor_records(server: ApplianceServer, **params: object) -> list[dict]:
    reply = httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                      params={"limit": 1000, **params}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


# -- finding 1: the body limit holds for chunked bodies, before authentication -----------------------


def test_a_chunked_body_over_the_limit_is_refused_413_as_it_arrives_without_a_key(boundary_server: ApplianceServer) -> None:
    twenty_mb = (b"x" * 65536 for _ in range(320))
    reply = exchange(boundary_server.host, boundary_server.port,
                     head("POST", "/v1/chat/completions", {"Host": "appliance", "Content-Type": "application/json",
                                                            "Transfer-Encoding": "chunked"}),
                     chunked(twenty_mb))
    assert reply.status == 413, reply
    # Counted while it arrived (no length was declared), refused before any parsing or key check.
    assert reply.json()["error"] == {"message": "Request body exceeds the limit of 1048576 bytes.",
                                     "type": "invalid_request_error", "param": None, "code": "request_too_large"}


def test_a_body_that_trickles_in_is_cut_off_with_408(boundary_server: ApplianceServer) -> None:
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode()
    reply = exchange(boundary_server.host, boundary_server.port,
                     head("POST", "/v1/chat/completions", {"Host": "appliance", "Content-Type": "application/json",
                                                            "Content-Length": str(len(body)), **boundary_server.headers()}),
                     (body[i:i + 1] for i in range(len(body))), pause=0.5, timeout=30)
    assert reply.status == 408, reply
    assert reply.json()["error"]["code"] == "request_timeout"
    assert reply.seconds < 15  # body_timeout_seconds = 3 in this server's configuration


def test_uvicorn_is_pinned_to_asyncio_h11_and_the_configured_bounds() -> None:
    options = uvicorn_options(ServerConfig(max_header_bytes=8192, limit_concurrency=7))
    assert options["loop"] == "asyncio" and options["http"] == "h11"
    assert options["h11_max_incomplete_event_size"] == 8192 and options["limit_concurrency"] == 7
    assert options["proxy_headers"] is False


# -- finding 2: refusals record the route template, and a flood becomes a count ----------------------


def test_refused_requests_never_write_the_callers_path_into_the_log_and_a_flood_is_counted(
        boundary_server: ApplianceServer) -> None:
    template = "/v1/audit/records/{seq}"

    def ours(records: list[dict]) -> list[dict]:
        return [r for r in records if r["endpoint"] == template and r.get("reason") == "missing_key"]

    before = ours(auditor_records(boundary_server, kind="auth_failure"))
    for _ in range(30):
        assert httpx.get(f"{boundary_server.base_url}/audit/records/{PHI_PATH_SEGMENT}").status_code == 401
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        new = ours(auditor_records(boundary_server, kind="auth_failure"))[len(before):]
        if sum(r["count"] for r in new) >= 30:
            break
        time.sleep(0.5)
    assert sum(r["count"] for r in new) == 30
    assert len(new) <= 4  # the first of each 3 s window in full, the rest as one count per window
    assert any(r.get("aggregated") for r in new)
    everything = json.dumps(auditor_records(boundary_server))
    assert PHI_PATH_SEGMENT not in everything and "48213377" not in everything


# -- finding 3: X-Forwarded-For is not believed by default ----------------------------------------


def chat_client_recorded(server: ApplianceServer, headers: dict[str, str],
                         transport: httpx.HTTPTransport | None = None) -> str:
    with httpx.Client(transport=transport, timeout=120) as client:
        reply = client.post(server.base_url + "/chat/completions", headers={**server.headers(), **headers},
                            json={"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]})
    assert reply.status_code == 200, reply.text
    [request] = auditor_records(server, kind="request", request_id=reply.headers["x-request-id"])
    return request["client"]


def test_a_forged_x_forwarded_for_does_not_change_the_audited_client(boundary_server: ApplianceServer) -> None:
    assert chat_client_recorded(boundary_server, {"X-Forwarded-For": "203.0.113.9"}) == "127.0.0.1"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceServer]:
    """A server behind a trusted proxy on 127.0.0.0/30, accepting at most 3 connections at once."""
    data_dir = tmp_path_factory.mktemp("proxied") / "data"
    config = ('[server]\ntrusted_proxies = ["127.0.0.0/30"]\nlimit_concurrency = 3\n'
              '[engine]\ncontext_length = 512\ndefault_max_tokens = 4\n')
    with ApplianceServer(data_dir, init_data_dir(data_dir, config)) as server:
        yield server


def test_x_forwarded_for_is_believed_from_trusted_proxies_only(proxied: ApplianceServer) -> None:
    assert chat_client_recorded(proxied, {"X-Forwarded-For": "203.0.113.9"}) == "203.0.113.9"
    untrusted = httpx.HTTPTransport(local_address="127.0.0.5")
    assert chat_client_recorded(proxied, {"X-Forwarded-For": "203.0.113.9"}, untrusted) == "127.0.0.5"


def test_connections_beyond_the_concurrency_limit_get_503(proxied: ApplianceServer) -> None:
    idle = [socket.create_connection((proxied.host, proxied.port)) for _ in range(4)]
    try:
        time.sleep(0.5)
        assert httpx.get(proxied.url + "/healthz").status_code == 503
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 10
    while httpx.get(proxied.url + "/healthz").status_code != 200:
        assert time.monotonic() < deadline, "the server did not recover after the idle connections closed"
        time.sleep(0.2)


# -- finding 9: /metrics needs a key, /readyz says only ready or not ---------------------------------


def test_metrics_need_a_key_of_any_role_and_readyz_is_terse_without_one(boundary_server: ApplianceServer) -> None:
    assert httpx.get(boundary_server.url + "/metrics").status_code == 401
    assert httpx.get(boundary_server.url + "/metrics", headers={"Authorization": "Bearer apl_x_y"}).status_code == 401
    for role in ("clinical", "auditor", "admin"):
        keyed = httpx.get(boundary_server.url + "/metrics", headers=boundary_server.headers(role))
        assert keyed.status_code == 200 and "appliance_requests_total" in keyed.text
    assert httpx.get(boundary_server.url + "/readyz").json() == {"ready": True}
    detailed = httpx.get(boundary_server.url + "/readyz", headers=boundary_server.headers("admin")).json()
    assert detailed["ready"] is True and detailed["egress_mode"] == "air-gapped" and detailed["policy_packs"]


# -- finding 6: the serving process refuses to start programs; doctor names the OS layer's part ------


def test_the_running_server_refuses_spawning(boundary_server: ApplianceServer) -> None:
    detailed = httpx.get(boundary_server.url + "/readyz", headers=boundary_server.headers("admin")).json()
    assert detailed["spawning_refused"] is True


def test_doctor_says_what_the_os_layer_must_add(tmp_path: Path) -> None:
    report = json.loads(run_cli("doctor", data_dir=tmp_path).stdout)
    lines = report["os_layer_must_add"]
    assert any(line.startswith("IPAddressDeny=any with IPAddressAllow=localhost") for line in lines)
    assert any("127.0.0.53" in line for line in lines)
    assert any("NoExecPaths" in line for line in lines)
