"""Opt-in encrypted capture through the API, and erasure of a data subject (GDPR Art. 17)."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from audit.capture import CaptureErased, CaptureVault
from audit.log import AuditLog
from tests.appliance_server import ApplianceServer, init_data_dir, run_cli

pytestmark = pytest.mark.slow
PROMPT = "Patient Oliver Brandt reports chest pain since Tuesday."


def open_store(data_dir: Path) -> AuditLog:
    return AuditLog.open(f"sqlite:///{data_dir / 'audit.db'}", data_dir / "keys")


def test_captured_text_is_encrypted_readable_until_erased_and_the_log_still_verifies(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with ApplianceServer(data_dir, init_data_dir(data_dir, "[audit]\ncapture = true\n")) as server:
        reply = httpx.post(server.base_url + "/chat/completions", timeout=120,
                           headers={**server.headers(), "X-Data-Subject": "patient-4711"},
                           json={"model": "smollm2-135m-instruct", "max_tokens": 8,
                                 "messages": [{"role": "user", "content": PROMPT}]})
        assert reply.status_code == 200
        request_id = reply.headers["x-request-id"]
    for path in data_dir.rglob("*"):  # store, WAL, keys, server log: the name is nowhere in clear
        assert not path.is_file() or b"Oliver Brandt" not in path.read_bytes(), path
    store = open_store(data_dir)
    try:
        [request] = store.reader.find(kind="request", request_id=request_id)
        [outcome] = store.reader.find(kind="outcome", request_id=request_id)
        vault = CaptureVault(store)
        assert vault.read(request["prompt_capture"]) == PROMPT
        assert vault.read(outcome["response_capture"]) == reply.json()["choices"][0]["message"]["content"]
    finally:
        store.close()

    erased = run_cli("audit", "erase", "--subject", "patient-4711", data_dir=data_dir)
    assert "2 captured texts are now unreadable" in erased.stdout

    store = open_store(data_dir)
    try:
        with pytest.raises(CaptureErased):
            CaptureVault(store).read(request["prompt_capture"])
        [erasure] = store.reader.find(kind="erasure")
        assert "patient-4711" not in str(erasure)
    finally:
        store.close()
    export = tmp_path / "export"
    run_cli("audit", "export", "--out", str(export), data_dir=data_dir)
    verified = run_cli("audit", "verify", str(export))
    assert verified.returncode == 0


def test_capture_requires_a_well_formed_data_subject_and_never_files_text_under_a_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    body = {"model": "smollm2-135m-instruct", "max_tokens": 4, "messages": [{"role": "user", "content": PROMPT}]}
    with ApplianceServer(data_dir, init_data_dir(data_dir, "[audit]\ncapture = true\n")) as server:
        url = server.base_url + "/chat/completions"
        missing = httpx.post(url, timeout=120, headers=server.headers(), json=body)
        assert missing.status_code == 400
        error = missing.json()["error"]
        assert error["param"] == "X-Data-Subject" and error["code"] == "missing_data_subject"
        assert "X-Data-Subject header is required" in error["message"]
        for bad in ("Oliver Brandt", "x" * 129, "-starts-with-dash", "a;b"):
            refused = httpx.post(url, timeout=120, headers={**server.headers(), "X-Data-Subject": bad}, json=body)
            assert refused.status_code == 400, bad
            assert refused.json()["error"]["code"] == "invalid_data_subject"
            assert bad not in refused.text  # the value may identify a patient: never echoed
        ok = httpx.post(url, timeout=120, headers={**server.headers(), "X-Data-Subject": "mrn:4711@ward-3"}, json=body)
        assert ok.status_code == 200
    store = open_store(data_dir)
    try:
        requests = store.reader.find(kind="request")
        assert [r["request_id"] for r in requests] == [ok.headers["x-request-id"]]  # refused calls captured nothing
    finally:
        store.close()
    erased = run_cli("audit", "erase", "--subject", "mrn:4711@ward-3", data_dir=data_dir)
    assert "2 captured texts are now unreadable" in erased.stdout
