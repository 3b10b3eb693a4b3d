"""FastAPI dependencies: the app's parts, typed; the caller's identity; role checks. Every refusal is audited."""
from __future__ import annotations

from typing import Annotated, Any, Awaitable, Callable

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from appliance.api.auth_failures import AuthFailureWindows
from appliance.api.errors import ApiError, forbidden, unauthorized
from appliance.auditing import call_fields
from appliance.auth import KeyStoreUnavailable, Principal
from appliance.pipeline import InferencePipeline
from appliance.review.service import Review
from appliance.review.sessions import SessionStore
from appliance.services import Services
from appliance.tls.peer import client_certificate


# -- the app's parts (put on app.state by create_app and install_console; read only through these) --

def app_services(request: Request) -> Services:
    """What this process runs on."""
    return request.app.state.services


def app_pipeline(request: Request) -> InferencePipeline:
    """The request path's steps."""
    return request.app.state.pipeline


def app_auth_failures(request: Request) -> AuthFailureWindows:
    """The refusal windows (`auth_failures.py`)."""
    return request.app.state.auth_failures


def app_review(request: Request) -> Review:
    """The review service behind the console and the export endpoint."""
    return request.app.state.review


def app_console_sessions(request: Request) -> SessionStore:
    """The console's sessions, in process memory."""
    return request.app.state.console_sessions


ServicesDep = Annotated[Services, Depends(app_services)]
PipelineDep = Annotated[InferencePipeline, Depends(app_pipeline)]
ReviewDep = Annotated[Review, Depends(app_review)]
ConsoleSessionsDep = Annotated[SessionStore, Depends(app_console_sessions)]


# -- who is calling ----------------------------------------------------------------------------------

def client_fields(request: Request) -> dict[str, str]:
    """Who is on the other end of the connection: address, and client certificate fingerprint (mutual TLS)."""
    fields = {"client": request.client.host if request.client else "unknown"}
    cert = client_certificate(request.scope)
    if cert is not None:
        fields["client_cert_sha256"] = cert.sha256
    return fields


def request_fields(request: Request, principal: Principal | None, endpoint: str | None = None) -> dict[str, Any]:
    """`auditing.call_fields` of this HTTP request: its id, the caller's key and the client."""
    return call_fields(request.state.request_id, principal, endpoint=endpoint, client=client_fields(request))


def _cert_accepted(request: Request, principal: Principal) -> bool:
    cert = client_certificate(request.scope)
    return principal.accepts_client_cert(cert.sha256 if cert else None, cert.subject if cert else None)


def route_template(request: Request) -> str:
    """The matched route's template (`/v1/audit/records/{seq}`): never the raw path a caller typed."""
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


async def audit_refusal(request: Request, reason: str, principal: Principal | None) -> None:
    """Record the refusal (the first per client, reason and route in a window; later ones as a count)."""
    fields = {**request_fields(request, principal, route_template(request)), "method": request.method,
              "reason": reason}
    for record in app_auth_failures(request).admit(fields):
        await app_pipeline(request).audit("auth_failure", record)


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
        return await run_in_threadpool(app_services(request).keys.authenticate, token)
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
