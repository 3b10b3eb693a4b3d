"""Authentication and role checks as FastAPI dependencies; every refusal is audited."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from appliance.api.errors import ApiError, forbidden, unauthorized
from appliance.auth import KeyStoreUnavailable, Principal
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


def route_template(request: Request) -> str:
    """The matched route's template (`/v1/audit/records/{seq}`): never the raw path a caller typed."""
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


async def audit_refusal(request: Request, reason: str, principal: Principal | None) -> None:
    """Record the refusal (the first per client, reason and route in a window; later ones as a count)."""
    fields: dict[str, object] = {
        "request_id": request.state.request_id,
        "endpoint": route_template(request),
        "method": request.method,
        **client_fields(request),
        "reason": reason,
    }
    if principal is not None:
        fields.update(actor_fields(principal))
    for record in request.app.state.auth_failures.admit(fields):
        await request.app.state.pipeline.audit("auth_failure", record)


async def presented_principal(request: Request) -> Principal | None:
    """The caller's Principal when it sent a valid bearer key, else None (nothing is audited)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return await _authenticate(request, token.strip())


async def _authenticate(request: Request, token: str) -> Principal | None:
    """The token's principal, looked up off the event loop (with PostgreSQL it is a database query);
    503 when the keys cannot be read, never a guess."""
    try:
        return await run_in_threadpool(request.app.state.services.keys.authenticate, token)
    except KeyStoreUnavailable:
        raise ApiError(503, "API keys cannot be checked right now (the key database is unavailable); try again later.",
                       type="server_error", code="auth_unavailable") from None


def require(permission: str | None) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency giving the caller's Principal: 401 without a valid key, 403 without the permission."""

    async def dependency(request: Request) -> Principal:
        if not request.headers.get("authorization", ""):
            await audit_refusal(request, "missing_key", None)
            raise unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.")
        principal = await presented_principal(request)
        if principal is None:
            await audit_refusal(request, "invalid_key", None)
            raise unauthorized("Incorrect API key provided, or the key was revoked.")
        if not _cert_accepted(request, principal):
            await audit_refusal(request, "client_cert_mismatch", principal)
            raise unauthorized("This API key is bound to a client certificate, and this connection did not present it.")
        if permission is not None and not principal.may(permission):
            await audit_refusal(request, f"role_lacks_{permission}", principal)
            raise forbidden(f"Your key's role '{principal.role}' may not use {route_template(request)} (needs '{permission}').")
        request.state.principal = principal
        return principal

    return dependency
