"""Authentication and role checks as FastAPI dependencies; every refusal is audited."""
from __future__ import annotations

from typing import Awaitable, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from appliance.api.errors import ApiError, forbidden, unauthorized
from appliance.auth import KeyStoreUnavailable, Principal
from appliance.pipeline import actor_fields


async def _audit_refusal(request: Request, reason: str, principal: Principal | None) -> None:
    fields: dict[str, object] = {
        "request_id": request.state.request_id,
        "endpoint": request.url.path,
        "method": request.method,
        "client": request.client.host if request.client else "unknown",
        "reason": reason,
    }
    if principal is not None:
        fields.update(actor_fields(principal))
    await request.app.state.pipeline.audit("auth_failure", fields)


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
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            await _audit_refusal(request, "missing_key", None)
            raise unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.")
        principal = await _authenticate(request, token.strip()) if scheme.lower() == "bearer" else None
        if principal is None:
            await _audit_refusal(request, "invalid_key", None)
            raise unauthorized("Incorrect API key provided, or the key was revoked.")
        if permission is not None and not principal.may(permission):
            await _audit_refusal(request, f"role_lacks_{permission}", principal)
            raise forbidden(f"Your key's role '{principal.role}' may not use {request.url.path} (needs '{permission}').")
        request.state.principal = principal
        return principal

    return dependency
