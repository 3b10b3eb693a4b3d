"""Fail closed: no audit record, no inference; no working detector, no inference."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from appliance.api.app import create_app
from appliance.api.errors import ApiError
from appliance.config import load_settings
from appliance.pipeline import failing_closed
from appliance.services import Services, open_services
from policies.detect.batcher import ScanBatcher
from policies.pack import load_packs
from policies.policy_engine import PolicyEngine
from policies.stream import StreamGuard
from tests.appliance_server import ApplianceServer, init_data_dir, run_cli

pytestmark = pytest.mark.slow
CHAT = {"model": "smollm2-135m-instruct", "max_tokens": 4, "messages": [{"role": "user", "content": "Hello"}]}


def completion_tokens_served(server: ApplianceServer) -> float:
    for line in httpx.get(server.url + "/metrics", headers=server.headers()).text.splitlines():
        if line.startswith('appliance_tokens_total{kind="completion"'):
            return float(line.split()[-1])
    return 0.0


def test_no_inference_while_the_audit_store_cannot_write(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with ApplianceServer(data_dir, init_data_dir(data_dir)) as server:
        assert httpx.post(server.base_url + "/chat/completions", json=CHAT, headers=server.headers(),
                          timeout=60).status_code == 200
        served = completion_tokens_served(server)
        blocker = sqlite3.connect(data_dir / "audit.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock: the store cannot write
        try:
            refused = httpx.post(server.base_url + "/chat/completions", json=CHAT, headers=server.headers(),
                                 timeout=60)
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "audit_unavailable"
            assert httpx.get(server.url + "/readyz", headers=server.headers(), timeout=60).json()["audit_writable"] is False
            assert completion_tokens_served(server) == served  # nothing was generated
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert httpx.post(server.base_url + "/chat/completions", json=CHAT, headers=server.headers(),
                          timeout=60).status_code == 200
    exported = tmp_path / "export"
    run_cli("audit", "export", "--out", str(exported), data_dir=data_dir)
    assert run_cli("audit", "verify", str(exported)).returncode == 0


class BrokenDetector:
    """A detector whose analysis raises, as a crashed NLP pipeline would."""

    def analyze_many(self, texts: list[str]) -> list:
        raise RuntimeError("spaCy pipeline crashed")

    analyze = analyze_many


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("fail-closed") / "data"
    tokens = init_data_dir(data_dir)
    opened = open_services(load_settings(data_dir=data_dir), None)
    yield opened, tokens
    opened.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("detector", [None, BrokenDetector()], ids=["not loaded", "crashing"])
async def test_no_inference_without_a_working_detector(services: tuple[Services, dict[str, str]],
                                                       detector: object) -> None:
    opened, tokens = services
    real, opened.detector = opened.detector, detector
    try:
        transport = httpx.ASGITransport(app=create_app(opened))
        async with httpx.AsyncClient(transport=transport, base_url="http://appliance") as client:
            reply = await client.post("/v1/chat/completions", json=CHAT,
                                      headers={"Authorization": f"Bearer {tokens['clinical']}"})
            ready = await client.get("/readyz", headers={"Authorization": f"Bearer {tokens['clinical']}"})
    finally:
        opened.detector = real
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "detector_unavailable"
    assert "fail closed" in reply.json()["error"]["message"]
    assert opened.engine.active_jobs() == 0
    requests = [r for r in opened.audit.reader.read_records() if r["kind"] == "request"]
    assert requests == []  # refused before the write-ahead record: nothing was generated
    if detector is None:
        assert ready.status_code == 503 and ready.json()["detector_loaded"] is False


async def post_chat_and_readiness(opened: Services, token: str) -> tuple[httpx.Response, httpx.Response]:
    """A chat request, then `/readyz` with a key (so it shows every check), against `opened`."""
    transport = httpx.ASGITransport(app=create_app(opened))
    async with httpx.AsyncClient(transport=transport, base_url="http://appliance") as client:
        headers = {"Authorization": f"Bearer {token}"}
        reply = await client.post("/v1/chat/completions", json=CHAT, headers=headers)
        return reply, await client.get("/readyz", headers=headers)


@pytest.mark.anyio
async def test_a_stopped_detector_thread_refuses_requests_and_makes_the_service_unready(
        services: tuple[Services, dict[str, str]]) -> None:
    opened, tokens = services
    real = opened.detector
    assert real is not None
    stopped = ScanBatcher(real.detector)  # the same loaded detector, its scanning thread ended
    stopped.close()
    opened.detector = stopped
    try:
        reply, ready = await post_chat_and_readiness(opened, tokens["clinical"])
    finally:
        opened.detector = real
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "detector_unavailable"
    assert ready.status_code == 503
    assert ready.json()["detector_loaded"] is True and ready.json()["detector_running"] is False
    assert ready.json()["ready"] is False


@pytest.mark.anyio
async def test_a_stopped_engine_refuses_requests_as_unavailable_not_busy(tmp_path: Path) -> None:
    """A model worker that stopped (its thread failed, or shut down) is a 503 the client should not retry
    as if the queue were full, and `/readyz` says the engine is not running."""
    data_dir = tmp_path / "data"
    tokens = init_data_dir(data_dir)
    opened = open_services(load_settings(data_dir=data_dir), None)
    try:
        reply, ready = await post_chat_and_readiness(opened, tokens["clinical"])
        assert reply.status_code == 200 and ready.json()["engine_running"] is True
        opened.engine.load(opened.settings.engine.default_model).stop()
        reply, ready = await post_chat_and_readiness(opened, tokens["clinical"])
        outcomes = [r for r in opened.audit.reader.read_records() if r["kind"] == "outcome"]
    finally:
        opened.close()
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["code"] == "engine_unavailable" and "Retry-After" not in reply.headers
    assert outcomes[-1]["status"] == 503 and outcomes[-1]["error"] == "engine_unavailable"
    assert ready.status_code == 503
    assert ready.json()["model_loaded"] is True and ready.json()["engine_running"] is False


def test_an_inert_word_check_that_raises_withholds_the_answer() -> None:
    """The guard's fast path fails closed like its scans: a 503 naming no text, nothing released."""
    def crashing(text: str, *, after: str = "") -> int:
        raise RuntimeError(f"cannot judge {text!r}")

    def unused_scan(text: str) -> list:
        raise AssertionError("the fast path runs first")

    guard = StreamGuard(unused_scan, PolicyEngine(load_packs()), purpose="treatment", zone="local",
                        inert_prefix=failing_closed(crashing))
    with pytest.raises(ApiError) as refused:
        guard.feed("Once upon a time ")
    assert refused.value.status == 503 and refused.value.code == "detector_unavailable"
    assert "Once" not in refused.value.message and guard.decision.texts == [""]
