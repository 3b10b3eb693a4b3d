"""The scheduler seen from a client: a full queue answers 429, a client that leaves frees its slot."""
from __future__ import annotations

import re
import threading
import time

import httpx
import pytest

from tests.appliance_server import ApplianceServer

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"
LONG = {"model": MODEL, "prompt": "1, 2, 3, 4, 5, 6, 7, 8,", "max_tokens": 900, "temperature": 0}


def gauge(server: ApplianceServer, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", httpx.get(server.url + "/metrics", headers=server.headers()).text, re.M)
    assert match, name
    return float(match.group(1))


def wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def outcome_of(server: ApplianceServer, request_id: str) -> dict:
    found: list[dict] = []

    def recorded() -> bool:
        found[:] = httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                             params={"request_id": request_id, "kind": "outcome"}).json()["data"]
        return bool(found)

    wait_for(recorded, f"the outcome record of {request_id}")
    return found[0]


class LongRequest(threading.Thread):
    """A long non-streamed completion from its own client; it hangs up after `patience` seconds."""

    def __init__(self, server: ApplianceServer, patience: float) -> None:
        super().__init__(daemon=True)
        self.server, self.patience = server, patience
        self.status: int | str | None = None

    def run(self) -> None:
        try:
            reply = httpx.post(self.server.base_url + "/completions", json=LONG, headers=self.server.headers(),
                               timeout=httpx.Timeout(self.patience))
            self.status = reply.status_code
        except httpx.TimeoutException:
            self.status = "hung up"


def test_full_queue_answers_429_with_retry_after(server: ApplianceServer) -> None:
    # The test server admits one running and one waiting job (engine.parallel = 1, engine.max_queue = 1).
    with httpx.Client(timeout=120) as http, http.stream("POST", server.base_url + "/completions",
                                                        json={**LONG, "stream": True}, headers=server.headers()) as running:
        assert running.status_code == 200
        waiting = LongRequest(server, patience=8)
        waiting.start()
        wait_for(lambda: gauge(server, "appliance_queue_depth") == 1, "the second request to queue")
        refused = httpx.post(server.base_url + "/chat/completions", headers=server.headers(), timeout=60,
                             json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "3"
        error = refused.json()["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "queue_full"
        assert outcome_of(server, refused.headers["x-request-id"])["status"] == 429
    waiting.join(timeout=60)
    assert waiting.status == "hung up"
    wait_for(lambda: gauge(server, "appliance_active_jobs") == 0, "both slots to free")


def test_client_disconnect_frees_the_slot(server: ApplianceServer) -> None:
    with httpx.Client(timeout=120) as http:
        with http.stream("POST", server.base_url + "/completions", json={**LONG, "stream": True},
                         headers=server.headers()) as reply:
            request_id = reply.headers["x-request-id"]
            events = reply.iter_lines()
            assert next(line for line in events if line.startswith("data: "))
            assert gauge(server, "appliance_active_jobs") == 1
        # the client hung up mid-generation
    wait_for(lambda: gauge(server, "appliance_active_jobs") == 0, "the slot to free")
    outcome = outcome_of(server, request_id)
    assert outcome["status"] == 499 and outcome["error"] == "client_disconnected"
    assert outcome["completion_tokens"] < LONG["max_tokens"]
    after = httpx.post(server.base_url + "/completions", headers=server.headers(), timeout=120,
                       json={**LONG, "max_tokens": 4})
    assert after.status_code == 200


def disconnected_outcomes(server: ApplianceServer) -> int:
    records = httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                        params={"kind": "outcome", "limit": 1000}).json()["data"]
    return sum(r["status"] == 499 for r in records)


def test_non_streaming_client_disconnect_cancels_generation(server: ApplianceServer) -> None:
    before = disconnected_outcomes(server)
    impatient = LongRequest(server, patience=1.5)
    impatient.start()
    impatient.join(timeout=60)
    assert impatient.status == "hung up"
    wait_for(lambda: gauge(server, "appliance_active_jobs") == 0, "the slot to free")
    wait_for(lambda: disconnected_outcomes(server) == before + 1, "the 499 outcome record")
