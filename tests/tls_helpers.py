"""Real TLS on loopback for the tests: a data directory with certificates from `appliance tls`, a
TLS-served appliance, client contexts, and one-handshake probes."""
from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.tls.probe import client_context  # what a client does: trust the CA, present a certificate
from tests.appliance_server import ApplianceServer, init_data_dir, run_cli

ENGINE_CONFIG = """
[engine]
context_length = 1024
default_max_tokens = 24
"""
TLS_SECTION = """
[server.tls]
cert_file = "tls/server.pem"
key_file = "tls/server.key"
"""
MTLS_LINE = 'client_ca = "tls/ca.pem"\n'


def tls_data_dir(data_dir: Path, *, mutual: bool = False, engine_config: str = ENGINE_CONFIG) -> dict[str, str]:
    """An initialised data directory serving TLS with a certificate from `appliance tls selfsigned`."""
    tokens = init_data_dir(data_dir, engine_config + TLS_SECTION + (MTLS_LINE if mutual else ""))
    run_cli("tls", "selfsigned", "--host", "localhost", "--ip", "127.0.0.1", data_dir=data_dir)
    return tokens


def client_cert(data_dir: Path, name: str) -> Path:
    """`appliance tls client --name NAME`: a client certificate signed by the data directory's CA."""
    run_cli("tls", "client", "--name", name, data_dir=data_dir)
    return data_dir / "tls" / "clients" / f"{name}.pem"


def start_tls_server(data_dir: Path, tokens: dict[str, str], cert: Path | None = None) -> ApplianceServer:
    return ApplianceServer(data_dir, tokens, tls=client_context(data_dir / "tls" / "ca.pem", cert)).start()


@contextmanager
def running_tls_server(data_dir: Path) -> Iterator[ApplianceServer]:
    """A TLS appliance on a fresh data directory (local CA, default keys), stopped on exit."""
    server = start_tls_server(data_dir, tls_data_dir(data_dir))
    try:
        yield server
    finally:
        server.stop()


def handshake(port: int, context: ssl.SSLContext, server_name: str | None = None) -> tuple[str, str, bytes]:
    """One TLS handshake to 127.0.0.1:port: (protocol version, cipher, server certificate DER)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            version, cipher = tls.version() or "", (tls.cipher() or ("",))[0]
            return version, cipher, tls.getpeercert(binary_form=True) or b""


def probe_context(version: ssl.TLSVersion, cipher: str = "ALL:COMPLEMENTOFALL:@SECLEVEL=0") -> ssl.SSLContext:
    """A client that offers only `version` (and the given TLS 1.2 ciphers), checking no certificate:
    it asks what the server accepts, as testssl does."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers(cipher)
    context.minimum_version = context.maximum_version = version
    return context


def accepts(port: int, context: ssl.SSLContext) -> bool:
    try:
        handshake(port, context)
    except (ssl.SSLError, ConnectionError):
        return False
    return True
