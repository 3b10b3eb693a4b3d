"""The auditor's API: records with inclusion proofs against a signed checkpoint, exports; 403 for others."""
from __future__ import annotations

import base64

import httpx
import pytest

from audit.checkpoint import verify_checkpoint
from audit.keys import load_signing_key
from audit.merkle import ProofError, verify_inclusion
from audit.format import leaf_hash
from tests.appliance_server import ApplianceServer, run_cli

pytestmark = pytest.mark.slow
ENDPOINTS = [("GET", "/audit/records"), ("GET", "/audit/records/0"), ("GET", "/audit/checkpoint"),
             ("POST", "/audit/exports")]


@pytest.mark.parametrize("role", ["clinical", "admin"])
@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_only_auditors_read_the_log(server: ApplianceServer, role: str, method: str, path: str) -> None:
    reply = httpx.request(method, server.base_url + path, headers=server.headers(role))
    assert reply.status_code == 403
    assert reply.json()["error"]["type"] == "permission_error"


def test_a_record_proves_its_inclusion_in_the_signed_checkpoint(server: ApplianceServer) -> None:
    auditor = server.headers("auditor")
    signed = httpx.get(server.base_url + "/audit/checkpoint", headers=auditor).json()
    public_key = load_signing_key(server.data_dir / "keys").public_key()
    checkpoint = verify_checkpoint(signed["checkpoint"], public_key, "appliance.local/audit")
    for seq in (0, checkpoint.size // 2, checkpoint.size - 1):
        body = httpx.get(server.base_url + f"/audit/records/{seq}", headers=auditor,
                         params={"tree_size": checkpoint.size}).json()
        proof = [base64.b64decode(h) for h in body["inclusion_proof"]]
        verify_inclusion(leaf_hash(body["record"]), seq, checkpoint.size, proof, checkpoint.root)
        tampered = dict(body["record"], status=999)
        with pytest.raises(ProofError):
            verify_inclusion(leaf_hash(tampered), seq, checkpoint.size, proof, checkpoint.root)
    accesses = httpx.get(server.base_url + "/audit/records", headers=auditor,
                         params={"kind": "audit_access", "limit": 1000}).json()["data"]
    assert {"checkpoint", "record", "list"} <= {a["access"] for a in accesses}


def test_records_filter_by_kind_and_unknown_seq_is_404(server: ApplianceServer) -> None:
    auditor = server.headers("auditor")
    kinds = {r["kind"] for r in httpx.get(server.base_url + "/audit/records", headers=auditor,
                                          params={"kind": "key_change"}).json()["data"]}
    assert kinds == {"key_change"}
    missing = httpx.get(server.base_url + "/audit/records/99999999", headers=auditor)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "record_not_found"


def test_export_started_over_the_api_verifies_offline(server: ApplianceServer) -> None:
    reply = httpx.post(server.base_url + "/audit/exports", headers=server.headers("auditor"), timeout=120)
    assert reply.status_code == 200
    verified = run_cli("audit", "verify", reply.json()["path"])
    assert "records" in verified.stdout
    exports = httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                        params={"kind": "export"}).json()["data"]
    assert exports[-1]["actor"] == server.tokens["auditor"].split("_")[1]
