"""Mutual TLS: without a client certificate from the configured CA there is no connection; a key bound
to one certificate is refused with another; the certificate's fingerprint is in the audit record."""
from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from appliance.tls.certs import read_leaf
from tests.appliance_server import ApplianceServer, run_cli
from tests.tls_helpers import ENGINE_CONFIG, client_cert, client_context, start_tls_server, tls_data_dir

pytestmark = pytest.mark.slow
BODY = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hello ward 7."}], "max_tokens": 4}
KEY = re.compile(r"^apl_\S+$", re.M)


class MutualTls:
    """A server requiring client certificates, two certificates from its CA, one from another CA,
    and clinical keys bound to the first certificate (by fingerprint) and to the second (by subject);
    `config` adds to appliance.toml (an `[audit]` URL for keys in the shared database)."""

    def __init__(self, root: Path, config: str = "") -> None:
        self.data_dir = root / "data"
        tokens = tls_data_dir(self.data_dir, mutual=True, engine_config=ENGINE_CONFIG + config)
        self.ward7 = client_cert(self.data_dir, "ward7")
        self.ward8 = client_cert(self.data_dir, "ward8")
        stranger_dir = root / "stranger"
        run_cli("tls", "selfsigned", "--host", "localhost", data_dir=stranger_dir)
        self.stranger = client_cert(stranger_dir, "ward7")  # same name, another CA
        self.bound_to_ward7 = self.create_key("by-fingerprint", "--client-cert", str(self.ward7))
        self.bound_to_ward8 = self.create_key("by-subject", "--client-subject", "CN=ward8")
        self.server = start_tls_server(self.data_dir, tokens, cert=self.ward7)

    def create_key(self, name: str, *binding: str) -> str:
        out = run_cli("keys", "create", "--role", "clinical", "--name", name, *binding, data_dir=self.data_dir).stdout
        return KEY.findall(out)[-1]

    def client(self, cert: Path | None) -> httpx.Client:
        return httpx.Client(verify=client_context(self.data_dir / "tls" / "ca.pem", cert), timeout=120)

    def chat(self, cert: Path | None, key: str) -> httpx.Response:
        with self.client(cert) as http:
            return http.post(self.server.base_url + "/chat/completions", json=BODY,
                             headers={"Authorization": f"Bearer {key}"})

    def records(self, request_id: str) -> list[dict[str, object]]:
        with self.client(self.ward7) as http:
            return http.get(self.server.base_url + "/audit/records", params={"request_id": request_id},
                            headers=self.server.headers("auditor")).json()["data"]


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MutualTls]:
    setup = MutualTls(tmp_path_factory.mktemp("mtls"))
    try:
        yield setup
    finally:
        setup.server.stop()


def raw_healthz(mtls: MutualTls, cert: Path | None, version: ssl.TLSVersion) -> bytes:
    """GET /healthz over a bare TLS socket of at most `version`; what the server sent back."""
    context = client_context(mtls.data_dir / "tls" / "ca.pem", cert)
    context.maximum_version = version
    with socket.create_connection(("127.0.0.1", mtls.server.port), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := tls.recv(4096):
            received += chunk
        return received


@pytest.mark.parametrize("who", ["no certificate", "certificate from another CA"])
def test_a_client_without_a_certificate_from_the_ca_is_refused_at_the_handshake(mtls: MutualTls, who: str) -> None:
    cert = None if who == "no certificate" else mtls.stranger
    with pytest.raises(ssl.SSLError):  # TLS 1.2: the server ends the handshake itself
        raw_healthz(mtls, cert, ssl.TLSVersion.TLSv1_2)
    try:  # TLS 1.3: the client's side of the handshake ends first; the server closes before any HTTP
        assert raw_healthz(mtls, cert, ssl.TLSVersion.TLSv1_3) == b""
    except ssl.SSLError:
        pass
    with pytest.raises(httpx.TransportError):
        mtls.chat(cert, mtls.server.tokens["clinical"])
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):  # the same probe with the CA's certificate
        assert raw_healthz(mtls, mtls.ward7, version).startswith(b"HTTP/1.1 200")


def test_a_key_bound_to_a_certificate_works_with_it_and_the_record_names_it(mtls: MutualTls) -> None:
    reply = mtls.chat(mtls.ward7, mtls.bound_to_ward7)
    assert reply.status_code == 200, reply.text
    request = next(r for r in mtls.records(reply.headers["x-request-id"]) if r["kind"] == "request")
    assert request["client_cert_sha256"] == read_leaf(mtls.ward7).sha256


@pytest.mark.parametrize("cert, key", [("ward8", "bound_to_ward7"), ("ward7", "bound_to_ward8")])
def test_a_key_bound_to_one_certificate_is_refused_with_another(mtls: MutualTls, cert: str, key: str) -> None:
    presented: Path = getattr(mtls, cert)
    reply = mtls.chat(presented, getattr(mtls, key))
    assert reply.status_code == 401
    assert "bound to a client certificate" in reply.json()["error"]["message"]
    [refusal] = [r for r in mtls.records(reply.headers["x-request-id"]) if r["kind"] == "auth_failure"]
    assert refusal["reason"] == "client_cert_mismatch"
    assert refusal["client_cert_sha256"] == read_leaf(presented).sha256


def test_a_subject_bound_key_works_with_a_certificate_of_that_subject(mtls: MutualTls) -> None:
    assert mtls.chat(mtls.ward8, mtls.bound_to_ward8).status_code == 200


def test_an_unbound_key_works_with_any_certificate_from_the_ca(mtls: MutualTls) -> None:
    assert mtls.chat(mtls.ward8, mtls.server.tokens["clinical"]).status_code == 200
