"""The audit log read back through the auditor's API, as the load suites check it: every call's request
and outcome records, a gap-free chain, and an export that `appliance audit verify` accepts."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

import httpx

from audit.keys import load_signing_key
from audit.checkpoint import key_fingerprint
from tests.appliance_server import ApplianceServer, run_cli

VERIFIED = re.compile(r"^OK: (\d+) records", re.MULTILINE)


def all_records(server: ApplianceServer) -> list[dict[str, Any]]:
    """Every record in the log, in seq order (each page read adds its own `audit_access` record)."""
    records: list[dict[str, Any]] = []
    while True:
        reply = httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                          params={"limit": 1000, "offset": len(records)}, timeout=120)
        assert reply.status_code == 200, reply.text
        page = reply.json()["data"]
        records += page
        if len(page) < 1000:
            return records


@dataclass
class CallRecords:
    """One request id's records in the log."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> dict[str, Any] | None:
        """The one outcome chained to the one request record, else None."""
        if len(self.requests) == 1 and len(self.outcomes) == 1:
            if self.outcomes[0]["request_seq"] == self.requests[0]["seq"] < self.outcomes[0]["seq"]:
                return self.outcomes[0]
        return None


def by_request_id(records: Iterable[dict[str, Any]]) -> dict[str, CallRecords]:
    """The request and outcome records of the log, grouped by request id."""
    calls: dict[str, CallRecords] = defaultdict(CallRecords)
    for record in records:
        if record["kind"] == "request":
            calls[record["request_id"]].requests.append(record)
        elif record["kind"] == "outcome":
            calls[record["request_id"]].outcomes.append(record)
    return dict(calls)


def assert_gap_free(records: list[dict[str, Any]]) -> None:
    assert [r["seq"] for r in records] == list(range(len(records))), "the log has gaps or is out of order"


def signing_fingerprint(server: ApplianceServer) -> str:
    """The audit signing key's fingerprint, read from the data directory: the verifier's trust anchor."""
    return key_fingerprint(load_signing_key(server.data_dir / "keys").public_key())


def export_and_verify(server: ApplianceServer) -> int:
    """Export the whole log through the API and verify it offline against the signing key; the number of
    records verified."""
    reply = httpx.post(server.base_url + "/audit/exports", headers=server.headers("auditor"), timeout=300)
    assert reply.status_code == 200, reply.text
    verified = run_cli("audit", "verify", reply.json()["path"], "--trusted-fingerprint", signing_fingerprint(server),
                       check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Traceback" not in verified.stdout + verified.stderr
    found = VERIFIED.search(verified.stdout)
    assert found, verified.stdout
    return int(found.group(1))
