"""The audit log under load and under a crash: every call recorded, the chain verifies, nothing lost."""
from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.appliance_server import ApplianceServer, init_data_dir, run_cli

pytestmark = pytest.mark.slow
CONFIG = "[engine]\ncontext_length = 1024\nmax_queue = 64\n[audit]\ncheckpoint_every = 10\n"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceServer]:
    data_dir = tmp_path_factory.mktemp("audit-load") / "data"
    with ApplianceServer(data_dir, init_data_dir(data_dir, CONFIG)) as server:
        yield server


def fire(server: ApplianceServer, count: int, max_tokens: int) -> list[tuple[str, int]]:
    """`count` concurrent chat calls; (request id, status) of each that got an answer."""
    answered: list[tuple[str, int]] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        try:
            reply = httpx.post(server.base_url + "/chat/completions", headers=server.headers(), timeout=300, json={
                "model": "smollm2-135m-instruct", "max_tokens": max_tokens, "temperature": 0,
                "messages": [{"role": "user", "content": f"Say the number {n}."}]})
        except httpx.TransportError:
            return  # the server died under us: not acknowledged
        with lock:
            answered.append((reply.headers["x-request-id"], reply.status_code))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answered


def all_records(server: ApplianceServer) -> list[dict]:
    records: list[dict] = []
    while True:
        page = httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                         params={"limit": 1000, "offset": len(records)}).json()["data"]
        records += page
        if len(page) < 1000:
            return records


def export_and_verify(server: ApplianceServer, tmp_path: Path) -> str:
    reply = httpx.post(server.base_url + "/audit/exports", headers=server.headers("auditor"), timeout=120)
    assert reply.status_code == 200, reply.text
    verified = run_cli("audit", "verify", reply.json()["path"], check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return verified.stdout


def test_concurrent_calls_leave_exactly_their_records(loaded: ApplianceServer, tmp_path: Path) -> None:
    before = {r["request_id"] for r in all_records(loaded) if r["kind"] == "request"}
    answered = fire(loaded, 24, max_tokens=4)
    assert len(answered) == 24 and {status for _, status in answered} == {200}
    records = all_records(loaded)
    assert [r["seq"] for r in records] == list(range(len(records)))  # gap-free
    ids = {request_id for request_id, _ in answered}
    requests = {r["request_id"]: r for r in records if r["kind"] == "request" and r["request_id"] not in before}
    outcomes = Counter(r["request_id"] for r in records if r["kind"] == "outcome" and r["request_id"] in ids)
    assert set(requests) == ids
    assert outcomes == Counter({request_id: 1 for request_id in ids})
    for r in records:
        if r["kind"] == "outcome" and r["request_id"] in ids:
            assert r["status"] == 200 and requests[r["request_id"]]["seq"] == r["request_seq"] < r["seq"]
    assert "Traceback" not in export_and_verify(loaded, tmp_path)


def test_kill_9_mid_load_loses_nothing_acknowledged(loaded: ApplianceServer, tmp_path: Path) -> None:
    answered: list[tuple[str, int]] = []
    load = threading.Thread(target=lambda: answered.extend(fire(loaded, 16, max_tokens=40)))
    load.start()
    wanted = len(all_records(loaded)) + 12  # a few calls done, the others queued or generating
    give_up = time.monotonic() + 120
    while len(all_records(loaded)) < wanted and time.monotonic() < give_up:
        time.sleep(0.05)
    loaded.stop(signal.SIGKILL)
    load.join()
    acknowledged = {request_id for request_id, status in answered if status == 200}
    loaded.start()
    records = all_records(loaded)
    assert [r["seq"] for r in records] == list(range(len(records)))
    outcome_ids = {r["request_id"] for r in records if r["kind"] == "outcome"}
    request_ids = {r["request_id"] for r in records if r["kind"] == "request"}
    assert acknowledged <= outcome_ids and acknowledged <= request_ids
    export_and_verify(loaded, tmp_path)
