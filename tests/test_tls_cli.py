"""`appliance tls` certificates and the refusals at start: plain HTTP off loopback, a key file others
can read or another user owns, a key that does not match its certificate, a corrupt certificate."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from appliance.tls import certs
from tests.appliance_server import free_port, run_cli
from tests.tls_helpers import tls_data_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tlscli") / "data"
    tls_data_dir(root)
    return root


def serve_refusal(data_dir: Path, *args: str) -> str:
    """`appliance serve` that must refuse to start: its one error line."""
    result = run_cli("serve", "--port", str(free_port()), *args, data_dir=data_dir, check=False)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_serving_plain_http_on_a_non_loopback_address_is_refused_before_binding(tmp_path: Path) -> None:
    line = serve_refusal(tmp_path / "data", "--host", "0.0.0.0")  # refused by config validation, no socket opened
    assert "refusing plain HTTP on non-loopback address '0.0.0.0'" in line and "[server.tls]" in line


def test_a_key_file_others_can_read_is_refused(data_dir: Path) -> None:
    key = data_dir / "tls" / "server.key"
    os.chmod(key, 0o644)
    try:
        line = serve_refusal(data_dir)
    finally:
        os.chmod(key, 0o600)
    assert f"TLS key file {key} has mode 644; it must be 0600" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_key_file_owned_by_another_user_is_refused(data_dir: Path) -> None:
    key = data_dir / "tls" / "server.key"
    os.chown(key, 65534, 65534)
    try:
        line = serve_refusal(data_dir)
    finally:
        os.chown(key, 0, 0)
    assert "is owned by uid 65534, not by the service user (uid 0)" in line


def test_a_key_that_does_not_match_the_certificate_and_a_corrupt_certificate_are_refused(data_dir: Path) -> None:
    tls = data_dir / "tls"
    shutil.copy(tls / "server.pem", tls / "server.pem.good")
    try:
        shutil.copy(tls / "ca.pem", tls / "server.pem")  # a valid certificate, for another key
        line = serve_refusal(data_dir)
        assert "server.pem" in line and "refused" in line
        (tls / "server.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        assert "server.pem" in serve_refusal(data_dir)
    finally:
        os.replace(tls / "server.pem.good", tls / "server.pem")


def test_doctor_reports_days_to_expiry_and_selfsigned_prints_the_ca_fingerprint(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = run_cli("tls", "selfsigned", "--host", "appliance.ward", "--ip", "127.0.0.1", "--days", "45",
                  data_dir=data).stdout
    ca = x509.load_pem_x509_certificate((data / "tls" / "ca.pem").read_bytes())
    printed = next(ln for ln in out.splitlines() if ln.startswith("CA fingerprint (SHA-256): ")).split(": ")[1]
    assert printed.replace(":", "").lower() == certs.describe(ca).sha256
    server = x509.load_pem_x509_certificate((data / "tls" / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["appliance.ward"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    (data / "appliance.toml").write_text(out.split(":\n", 1)[1])  # the [server.tls] lines it printed
    report = json.loads(run_cli("doctor", data_dir=data).stdout)["tls"]
    assert report["enabled"] and 44 < report["days_to_expiry"] <= 45 and report["expiry_warning"] is False


def test_csr_for_the_hospital_ca_then_install_of_the_signed_chain(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli("tls", "csr", "--host", "llm.hospital.example", "--ip", "127.0.0.1", "--org", "St Mary", data_dir=data)
    request = x509.load_pem_x509_csr((data / "tls" / "server.csr").read_bytes())
    assert request.is_signature_valid and request.subject.rfc4514_string() == "O=St Mary,CN=llm.hospital.example"
    hospital_key, hospital_ca = certs.make_ca("Hospital issuing CA")
    signed = certs.issue(hospital_key, hospital_ca, request.public_key(), "llm.hospital.example",
                         hosts=["llm.hospital.example"])
    certs.write_pem(tmp_path / "wrong.pem", hospital_ca)
    refused = run_cli("tls", "install", str(tmp_path / "wrong.pem"), data_dir=data, check=False)
    assert refused.returncode == 1 and "not for the key made by `tls csr`" in refused.stderr
    certs.write_pem(tmp_path / "chain.pem", signed, hospital_ca)
    run_cli("tls", "install", str(tmp_path / "chain.pem"), data_dir=data)
    assert certs.read_leaf(data / "tls" / "server.pem") == certs.describe(signed)
    assert len(certs.load_chain(data / "tls" / "server.pem")) == 2
    key = certs.load_key(data / "tls" / "server.key")
    assert key.public_key() == signed.public_key() and (data / "tls" / "server.key").stat().st_mode & 0o777 == 0o600
    assert not (data / "tls" / "pending.key").exists()


def test_a_key_binding_to_a_missing_certificate_file_is_one_line(data_dir: Path, tmp_path: Path) -> None:
    result = run_cli("keys", "create", "--role", "clinical", "--name", "x", "--client-cert", str(tmp_path / "no.pem"),
                     data_dir=data_dir, check=False)
    assert result.returncode == 1 and result.stderr.strip() == f"error: {tmp_path / 'no.pem'}: certificate file not found"
