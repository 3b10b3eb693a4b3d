"""`appliance selftest` over HTTPS: /readyz verified with the CA the clients are given, on a server the
selftest starts on loopback and on a running TLS-served appliance; a CA that did not issue the
certificate fails the step."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from appliance.tls.certs import read_leaf
from tests.appliance_server import ApplianceServer, run_cli
from tests.tls_helpers import running_tls_server

pytestmark = pytest.mark.slow
TLS_LINE = re.compile(r"^ok   tls\s+(?P<where>\S+(?: \(127\.0\.0\.1:\d+\))?)/readyz ready over (?P<version>TLSv1\.[23]), "
                      r"certificate verified with (?P<ca>\S+); (?P<subject>\S+) expires in (?P<days>[\d.]+) days$", re.M)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceServer]:
    with running_tls_server(tmp_path_factory.mktemp("selftest") / "data") as server:
        yield server


def days_left(data_dir: Path) -> float:
    return read_leaf(data_dir / "tls" / "server.pem").days_to_expiry()


def test_selftest_serves_https_on_loopback_and_verifies_it_with_the_generated_ca(tls_server: ApplianceServer) -> None:
    result = run_cli("selftest", data_dir=tls_server.data_dir, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    line = TLS_LINE.search(result.stdout)
    assert line, result.stdout
    assert line["where"].startswith("https://localhost (127.0.0.1:")  # checked against the certificate's name
    assert line["version"] == "TLSv1.3" and line["ca"] == str(tls_server.data_dir / "tls" / "ca.pem")
    assert line["subject"] == "CN=localhost" and abs(float(line["days"]) - days_left(tls_server.data_dir)) < 0.2
    for step in ("model", "detector", "audit", "egress"):
        assert f"ok   {step}" in result.stdout


def test_selftest_probes_a_running_tls_appliance(tls_server: ApplianceServer) -> None:
    result = run_cli("selftest", "--url", tls_server.url, data_dir=tls_server.data_dir, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    line = TLS_LINE.search(result.stdout)
    assert line and line["where"] == f"https://127.0.0.1:{tls_server.port}", result.stdout
    assert abs(float(line["days"]) - days_left(tls_server.data_dir)) < 0.2


def test_a_ca_that_did_not_issue_the_certificate_fails_the_tls_step(tls_server: ApplianceServer, tmp_path: Path) -> None:
    run_cli("tls", "selfsigned", "--host", "localhost", "--ip", "127.0.0.1", data_dir=tmp_path / "other")
    result = run_cli("selftest", "--url", tls_server.url, "--ca-file", str(tmp_path / "other" / "tls" / "ca.pem"),
                     data_dir=tls_server.data_dir, check=False)
    assert result.returncode == 1
    [failed] = [line for line in result.stdout.splitlines() if line.startswith("FAIL tls")]
    assert "CERTIFICATE_VERIFY_FAILED" in failed, failed
    assert "ok   model" in result.stdout and "next steps" not in result.stdout
