"""The FastAPI application: routes, the OpenAI error shape and the request framing middleware."""
from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from typing import AsyncIterator

import anyio
from fastapi import FastAPI

from appliance.api import routes_audit, routes_embeddings, routes_inference, routes_ops, routes_scan
from appliance.api.auth_failures import AuthFailureWindows
from appliance.api.errors import install_error_handlers
from appliance.api.framing import BodyLimits, RequestFraming
from appliance.pipeline import InferencePipeline
from appliance.review.console import install_console
from appliance.services import Services
from appliance.tls.renewal import RenewalWatch

# Every router the API serves; the authorization matrix test walks their routes.
ROUTE_MODULES = (routes_inference, routes_embeddings, routes_ops, routes_scan, routes_audit)


async def _close_auth_failure_windows(windows: AuthFailureWindows, pipeline: InferencePipeline,
                                      everything: bool = False) -> None:
    for record in windows.close_expired(everything):
        await pipeline.audit("auth_failure", record)


async def _sweep_auth_failure_windows(windows: AuthFailureWindows, pipeline: InferencePipeline) -> None:
    """Write the count of each closed window soon after it closes, not only at the next refusal."""
    period = max(0.5, windows.window_seconds / 4)
    while True:
        await anyio.sleep(period)
        try:
            await _close_auth_failure_windows(windows, pipeline)
        except Exception:  # the store is failing: requests see the 503; try again next period
            continue


def create_app(services: Services) -> FastAPI:
    """The app; its parts go on `app.state`, read by handlers through the typed helpers of `api/deps.py`."""
    pipeline = InferencePipeline(services)
    auth_failures = AuthFailureWindows(services.settings.server.auth_failure_window_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as serving, anyio.create_task_group() as tasks:
            if services.tls is not None:  # SIGHUP renews the certificate; expiry warnings are recorded
                await serving.enter_async_context(RenewalWatch(services.tls, services.audit).running())
            tasks.start_soon(_sweep_auth_failure_windows, auth_failures, pipeline)
            yield
            tasks.cancel_scope.cancel()
        try:
            await _close_auth_failure_windows(auth_failures, pipeline, everything=True)
        finally:
            review.close()
            services.close()

    app = FastAPI(title="Compliance inference appliance", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.services, app.state.pipeline, app.state.auth_failures = services, pipeline, auth_failures
    install_error_handlers(app)
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    review = install_console(app, services)
    server = services.settings.server
    app.add_middleware(RequestFraming, metrics=services.metrics,
                       limits=BodyLimits(server.max_body_bytes, server.body_timeout_seconds))
    return app


def create_readiness_app(services: Services) -> FastAPI:
    """Only /healthz, /readyz and /metrics over `services`: for the selftest's HTTPS probe, with no
    console, background tasks or lifespan (nothing written to the data directory, nothing closed)."""
    app = FastAPI(title="Compliance inference appliance (readiness)", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    install_error_handlers(app)
    app.include_router(routes_ops.router)
    return app
