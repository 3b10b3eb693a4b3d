"""The client's certificate (mutual TLS) in the ASGI scope, as the ASGI TLS extension describes it.

uvicorn does not fill `scope["extensions"]["tls"]`; `peer_certificate_protocol()` gives an HTTP
protocol class that does, from the connection's SSL object, once per connection."""
from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from appliance.tls.certs import CertInfo, describe_pem

Scope = MutableMapping[str, Any]
AsgiApp = Callable[[Scope, Any, Any], Awaitable[None]]


class _WithPeerCertificate:
    """Wraps the app for one connection, adding that connection's TLS facts to each request's scope."""

    def __init__(self, app: AsgiApp, tls: dict[str, Any]) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        scope.setdefault("extensions", {})["tls"] = self.tls
        await self.app(scope, receive, send)


def _tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = describe_pem(chain[0]).subject if chain else None
    return {"server_cert": None, "client_cert_chain": chain, "client_cert_name": name,
            "client_cert_error": None, "tls_version": None, "cipher_suite": None}


def peer_certificate_protocol() -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol (the parser the appliance pins), putting the peer's certificate into every
    request's scope."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class PeerCertificateProtocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is not None:
                self.app = _WithPeerCertificate(self.app, _tls_extension(ssl_object))

    return PeerCertificateProtocol


def client_certificate(scope: Scope) -> CertInfo | None:
    """The verified client certificate of this request's connection, or None."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return describe_pem(chain[0]) if chain else None
