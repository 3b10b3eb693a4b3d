"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis) against the real server
on loopback: no 5xx, and every documented response matches its schema and content type. Each role
fuzzes the routes it may use, with bounded examples (answers are at most 8 tokens, the context 512)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.appliance_server import ApplianceServer

pytestmark = [pytest.mark.slow, pytest.mark.boundary]

ST = Path(sys.executable).with_name("st")
ROLE_ROUTES = {
    "clinical": r"^/(v1/(chat/completions|completions|embeddings|models|scan)|healthz|readyz|metrics)$",
    "auditor": r"^/v1/audit/",
}


@pytest.mark.parametrize("role", sorted(ROLE_ROUTES))
def test_fuzzed_requests_never_get_a_server_error_or_an_off_schema_answer(
        boundary_server: ApplianceServer, role: str, tmp_path: Path) -> None:
    command = [str(ST), "run", boundary_server.url + "/openapi.json",
               "--header", f"Authorization: Bearer {boundary_server.tokens[role]}",
               "--include-path-regex", ROLE_ROUTES[role],
               "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
               "--max-examples", "10", "--seed", "1", "--workers", "1", "--generation-database", "none",
               "--request-timeout", "120", "--no-color"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    print(run.stdout[-3000:])  # what was generated and checked, shown with -s or on failure
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout.split("SUMMARY")[-1]
