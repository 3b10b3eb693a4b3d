"""Authorization matrix: every route the app serves x {no key, bad key, revoked key, clinical,
auditor, admin} -> the designed status. The routes come from the app's own route table (and its
OpenAPI document), so a route added without a line in DESIGNED fails here."""
from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from appliance.api.app import ROUTE_MODULES
from tests.appliance_server import ApplianceServer

pytestmark = [pytest.mark.slow, pytest.mark.boundary]

PUBLIC = "public"  # anyone, no key needed
ANY_ROLE = "any role"
CREDENTIALS = ("none", "bad", "revoked", "clinical", "auditor", "admin")

# The design (DESIGN.md section 3 and the roles in appliance/auth.py): who may call what.
DESIGNED: dict[tuple[str, str], Any] = {
    ("POST", "/v1/chat/completions"): {"clinical"},
    ("POST", "/v1/completions"): {"clinical"},
    ("POST", "/v1/embeddings"): {"clinical"},
    ("GET", "/v1/models"): ANY_ROLE,
    ("POST", "/v1/scan"): {"clinical", "auditor"},
    ("GET", "/v1/audit/records"): {"auditor"},
    ("GET", "/v1/audit/records/{seq}"): {"auditor"},
    ("GET", "/v1/audit/checkpoint"): {"auditor"},
    ("POST", "/v1/audit/exports"): {"auditor"},
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): ANY_ROLE,
    ("GET", "/openapi.json"): PUBLIC,
}
# Framework routes FastAPI adds by itself (not in our routers).
FRAMEWORK_ROUTES = {("GET", "/openapi.json")}


def served_routes() -> set[tuple[str, str]]:
    routes = set(FRAMEWORK_ROUTES)
    for module in ROUTE_MODULES:
        for route in module.router.routes:
            assert isinstance(route, APIRoute), route
            routes |= {(method, route.path) for method in route.methods if method != "HEAD"}
    return routes


def expected_status(access: Any, credential: str) -> str:
    if access == PUBLIC:
        return "allowed"
    if credential in ("none", "bad", "revoked"):
        return "401"
    if access == ANY_ROLE or credential in access:
        return "allowed"
    return "403"


def headers_for(server: ApplianceServer, credential: str) -> dict[str, str]:
    if credential == "none":
        return {}
    if credential == "bad":
        return {"Authorization": "Bearer apl_000000000000_not-a-real-secret"}
    return {"Authorization": f"Bearer {server.tokens[credential]}"}


def test_every_served_route_has_a_designed_access(boundary_server: ApplianceServer) -> None:
    openapi = httpx.get(boundary_server.url + "/openapi.json").json()
    documented = {(method.upper(), path) for path, item in openapi["paths"].items() for method in item}
    assert served_routes() == set(DESIGNED), "a route was added or removed: give it a line in DESIGNED"
    assert documented <= set(DESIGNED)


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("method, path", sorted(DESIGNED))
def test_route_answers_the_designed_status(boundary_server: ApplianceServer, method: str, path: str,
                                           credential: str) -> None:
    url = boundary_server.url + re.sub(r"\{[^}]+\}", "0", path)
    # An empty JSON object: authorised callers get a validation error (400), never a generation.
    body = {"json": {}} if method == "POST" and "exports" not in path else {}
    reply = httpx.request(method, url, headers=headers_for(boundary_server, credential), timeout=120, **body)
    expected = expected_status(DESIGNED[(method, path)], credential)
    if expected == "allowed":
        assert reply.status_code not in (401, 403) and reply.status_code < 500, (reply.status_code, reply.text)
    else:
        assert str(reply.status_code) == expected, reply.text
        assert reply.json()["error"]["type"] in ("authentication_error", "permission_error")
