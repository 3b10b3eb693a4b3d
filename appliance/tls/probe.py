"""A client's view of an HTTPS endpoint: GET /readyz verified with a CA file (and a client certificate
under mutual TLS), with the certificate the server presented."""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from appliance.tls.certs import CertInfo, describe


@dataclass(frozen=True)
class Readiness:
    status: int
    body: dict[str, Any]
    cert: CertInfo  # the server's certificate as this connection received it
    version: str  # the negotiated TLS version

    @property
    def ready(self) -> bool:
        return self.status == 200 and self.body.get("ready") is True


def client_context(ca_file: Path, client_cert: Path | None = None) -> ssl.SSLContext:
    """Verify the server against `ca_file` only; present `client_cert` (its key beside it, `.key`)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if client_cert is not None:
        context.load_cert_chain(str(client_cert), str(client_cert.with_suffix(".key")))
    return context


def probe_readyz(base_url: str, context: ssl.SSLContext, server_name: str | None = None) -> Readiness:
    """GET `base_url`/readyz; `server_name` is the name checked against the certificate (and sent as
    SNI) when the URL holds an address that the certificate does not name."""
    extensions = {"sni_hostname": server_name} if server_name else {}
    with httpx.Client(verify=context, timeout=30) as client:
        with client.stream("GET", base_url.rstrip("/") + "/readyz", extensions=extensions) as response:
            tls = response.extensions["network_stream"].get_extra_info("ssl_object")
            cert = describe(x509.load_der_x509_certificate(tls.getpeercert(True)))
            version = tls.version() or ""
            response.read()
    return Readiness(response.status_code, response.json(), cert, version)
