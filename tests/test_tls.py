"""The appliance over real TLS on loopback: the openai SDK with the CA file, verification without it,
protocol versions and ciphers offered (stdlib probes and `openssl s_client`), plain HTTP refused, and
certificate renewal by SIGHUP while a stream is in flight."""
from __future__ import annotations

import hashlib
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest

from appliance.tls.certs import read_leaf
from tests.appliance_server import ApplianceServer, run_cli
from tests.tls_helpers import accepts, client_context, handshake, probe_context, running_tls_server

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"
MESSAGES = [{"role": "user", "content": "Say hello to the ward team."}]
# What the server may agree to for TLS 1.2: forward secrecy (ECDHE) with an AEAD cipher.
STRONG_TLS12 = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
                "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305")
TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceServer]:
    with running_tls_server(tmp_path_factory.mktemp("tls") / "data") as server:
        yield server


def ca_file(server: ApplianceServer) -> Path:
    return server.data_dir / "tls" / "ca.pem"


def sdk(server: ApplianceServer, verify: ssl.SSLContext | bool = True) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=server.tokens["clinical"], max_retries=0,
                         http_client=httpx.Client(verify=verify, timeout=120))


def test_openai_sdk_with_the_ca_file_works_streaming_too(tls_server: ApplianceServer) -> None:
    client = sdk(tls_server, client_context(ca_file(tls_server)))
    reply = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=12)
    assert reply.choices[0].message.content and reply.usage.completion_tokens > 0
    chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=12, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_without_the_ca_file_the_certificate_fails_verification(tls_server: ApplianceServer) -> None:
    with pytest.raises(openai.APIConnectionError) as failed:
        sdk(tls_server).models.list()
    causes, cause = [], failed.value.__cause__
    while cause is not None:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert any("CERTIFICATE_VERIFY_FAILED" in str(c) for c in causes), causes


def test_plain_http_to_the_tls_port_gets_no_http_answer(tls_server: ApplianceServer) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{tls_server.port}/healthz", timeout=10)
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw:
        raw.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        while chunk := raw.recv(4096):
            received += chunk
    assert b"HTTP/" not in received


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")  # asking for TLS 1.0/1.1 on purpose
def test_only_tls_1_2_and_1_3_are_accepted_and_1_3_is_preferred(tls_server: ApplianceServer) -> None:
    port = tls_server.port
    offered = {v.name: accepts(port, probe_context(v)) for v in
               (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)}
    print("protocol versions accepted:", offered)
    assert offered == {"TLSv1": False, "TLSv1_1": False, "TLSv1_2": True, "TLSv1_3": True}
    with pytest.raises(ssl.SSLError) as refused:  # a real TLS 1.1 hello, refused by the server
        handshake(port, probe_context(ssl.TLSVersion.TLSv1_1))
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)
    version, _, _ = handshake(port, client_context(ca_file(tls_server)), "localhost")
    assert version == "TLSv1.3"


def test_every_tls_1_2_cipher_the_server_accepts_is_forward_secret_aead(tls_server: ApplianceServer) -> None:
    candidates = [c["name"] for c in probe_context(ssl.TLSVersion.TLSv1_2).get_ciphers()
                  if c["protocol"] != "TLSv1.3"]
    accepted = [name for name in candidates
                if accepts(tls_server.port, probe_context(ssl.TLSVersion.TLSv1_2, f"{name}:@SECLEVEL=0"))]
    print(f"TLS 1.2 ciphers offered by the client: {len(candidates)}; accepted by the server: {accepted}")
    assert len(candidates) > 20 and any("CBC" in n or n.endswith("-SHA") for n in candidates)
    assert accepted and set(accepted) <= set(STRONG_TLS12)


def s_client(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args], input="",
                          capture_output=True, text=True, timeout=30)


def negotiated(run: subprocess.CompletedProcess[str]) -> str | None:
    """`TLSv1.3, Cipher is X` from s_client's report, or None when no session was made."""
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("New, ") and "Cipher is" in ln), "")
    return None if not line or "(NONE)" in line else line.removeprefix("New, ")


def test_openssl_s_client_sees_tls_1_2_and_1_3_with_aead_suites_only(tls_server: ApplianceServer) -> None:
    port, ca = tls_server.port, str(ca_file(tls_server))
    default = s_client(port, "-CAfile", ca, "-verify_return_error")
    assert negotiated(default) and negotiated(default).startswith("TLSv1.3") and "Verify return code: 0 (ok)" in default.stdout
    versions = {flag: negotiated(s_client(port, flag, "-cipher", "ALL:@SECLEVEL=0"))
                for flag in ("-tls1", "-tls1_1", "-tls1_2", "-tls1_3")}
    suites = {suite: negotiated(s_client(port, "-tls1_3", "-ciphersuites", suite)) for suite in TLS13_SUITES}
    weak12 = {cipher: negotiated(s_client(port, "-tls1_2", "-cipher", f"{cipher}:@SECLEVEL=0"))
              for cipher in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-SHA", "DES-CBC3-SHA",
                             "ECDHE-ECDSA-NULL-SHA", "AECDH-AES128-SHA")}
    print("openssl s_client:", versions, suites, weak12, sep="\n")
    assert versions["-tls1"] is None and versions["-tls1_1"] is None
    assert versions["-tls1_2"].startswith("TLSv1.2") and versions["-tls1_3"].startswith("TLSv1.3")
    accepted13 = {s for s, got in suites.items() if got}
    assert accepted13 and accepted13 <= set(TLS13_SUITES[:3])
    assert all(got is None for got in weak12.values())


def test_sighup_serves_a_renewed_certificate_while_a_stream_completes(tls_server: ApplianceServer) -> None:
    context = client_context(ca_file(tls_server))
    old = hashlib.sha256(handshake(tls_server.port, context, "localhost")[2]).hexdigest()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper."}],
            "max_tokens": 200, "temperature": 0, "stream": True}
    with httpx.Client(verify=context, timeout=120) as http, \
            http.stream("POST", tls_server.base_url + "/chat/completions", json=body,
                        headers=tls_server.headers()) as stream:
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))  # the stream is under way
        run_cli("tls", "selfsigned", "--host", "localhost", "--ip", "127.0.0.1", data_dir=tls_server.data_dir)
        renewed = read_leaf(tls_server.data_dir / "tls" / "server.pem").sha256
        assert renewed != old
        assert tls_server.process is not None
        tls_server.process.send_signal(signal.SIGHUP)
        served = wait_for_certificate(tls_server.port, context, renewed)
        ssl_object = stream.extensions["network_stream"].get_extra_info("ssl_object")
        in_flight = hashlib.sha256(ssl_object.getpeercert(True)).hexdigest()
        rest = list(lines)
    assert served == renewed and in_flight == old  # new handshakes: new chain; the open connection kept its own
    events = [line for line in rest if line]
    assert events[-1] == "data: [DONE]" and not any('"error"' in line for line in events)
    reloads = audit_records(tls_server, context, "tls_reload", cert_sha256=renewed)
    assert reloads[-1]["status"] == "ok"
    reload_seq = reloads[-1]["seq"]
    outcome_seq = audit_records(tls_server, context, "outcome")[-1]["seq"]
    assert reload_seq < outcome_seq  # the certificate was renewed before the stream's outcome was written
    assert tls_server.process.poll() is None


def test_a_certificate_near_its_end_shows_in_readyz_metrics_and_a_warning_record(tls_server: ApplianceServer) -> None:
    context = client_context(ca_file(tls_server))
    run_cli("tls", "selfsigned", "--host", "localhost", "--ip", "127.0.0.1", "--days", "10",
            data_dir=tls_server.data_dir)
    short_lived = read_leaf(tls_server.data_dir / "tls" / "server.pem").sha256
    assert tls_server.process is not None
    tls_server.process.send_signal(signal.SIGHUP)
    assert wait_for_certificate(tls_server.port, context, short_lived) == short_lived
    ready = httpx.get(tls_server.url + "/readyz", headers=tls_server.headers(), verify=context).json()
    assert ready["ready"] and ready["tls"]["cert_sha256"] == short_lived and 9 < ready["tls"]["days_to_expiry"] <= 10
    assert ready["tls"]["expiry_warning"] is True
    gauge = next(ln for ln in httpx.get(tls_server.url + "/metrics", headers=tls_server.headers(), verify=context).text.splitlines()
                 if ln.startswith("appliance_tls_cert_expiry_days "))
    assert 9 < float(gauge.split()[1]) <= 10
    warnings = audit_records(tls_server, context, "tls_expiry_warning", cert_sha256=short_lived)
    assert len(warnings) == 1 and warnings[0]["warning_days"] == 30 and 9 < warnings[0]["days_to_expiry"] <= 10


def audit_records(server: ApplianceServer, context: ssl.SSLContext, kind: str, **match: object) -> list[dict[str, object]]:
    """Records of `kind` whose fields equal `match`, waiting up to 10 s for records written after a signal."""
    deadline = time.monotonic() + 10
    while True:
        records = httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                            params={"kind": kind, "limit": 1000}, verify=context).json()["data"]
        found = [r for r in records if all(r.get(k) == v for k, v in match.items())]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def wait_for_certificate(port: int, context: ssl.SSLContext, expected: str, attempts: int = 50) -> str:
    """The fingerprint new connections get, once it is `expected` (or the last one seen)."""
    served = ""
    for _ in range(attempts):
        served = hashlib.sha256(handshake(port, context, "localhost")[2]).hexdigest()
        if served == expected:
            break
        time.sleep(0.1)
    return served
