"""Authentication and role checks as FastAPI dependencies; every refusal is audited."""
from __future__ import annotations

from typing import Awaitable, Callable

from fastapi import Request

from appliance.api.errors import forbidden, unauthorized
from appliance.auth import Principal
from appliance.pipeline import actor_fields
from appliance.tls.peer import client_certificate


def client_fields(request: Request) -> dict[str, str]:
    """Who is on the other end of the connection: address, and client certificate fingerprint (mutual TLS)."""
    fields = {"client": request.client.host if request.client else "unknown"}
    cert = client_certificate(request.scope)
    if cert is not None:
        fields["client_cert_sha256"] = cert.sha256
    return fields


def _cert_accepted(request: Request, principal: Principal) -> bool:
    cert = client_certificate(request.scope)
    return principal.accepts_client_cert(cert.sha256 if cert else None, cert.subject if cert else None)


async def _audit_refusal(request: Request, reason: str, principal: Principal | None) -> None:
    fields: dict[str, object] = {
        "request_id": request.state.request_id,
        "endpoint": request.url.path,
        "method": request.method,
        **client_fields(request),
        "reason": reason,
    }
    if principal is not None:
        fields.update(actor_fields(principal))
    await request.app.state.pipeline.audit("auth_failure", fields)


def require(permission: str | None) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency giving the caller's Principal: 401 without a valid key, 403 without the permission."""

    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            await _audit_refusal(request, "missing_key", None)
            raise unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.")
        principal = request.app.state.services.keys.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            await _audit_refusal(request, "invalid_key", None)
            raise unauthorized("Incorrect API key provided, or the key was revoked.")
        if not _cert_accepted(request, principal):
            await _audit_refusal(request, "client_cert_mismatch", principal)
            raise unauthorized("This API key is bound to a client certificate, and this connection did not present it.")
        if permission is not None and not principal.may(permission):
            await _audit_refusal(request, f"role_lacks_{permission}", principal)
            raise forbidden(f"Your key's role '{principal.role}' may not use {request.url.path} (needs '{permission}').")
        request.state.principal = principal
        return principal

    return dependency
