"""The FastAPI application: routes, the OpenAI error shape and the request framing middleware."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI

from appliance.api import routes_audit, routes_embeddings, routes_inference, routes_ops, routes_scan
from appliance.api.errors import install_error_handlers
from appliance.api.framing import RequestFraming
from appliance.pipeline import InferencePipeline
from appliance.services import Services


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    app = FastAPI(title="Compliance inference appliance", version="0.1.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.services = services
    app.state.pipeline = InferencePipeline(services)
    install_error_handlers(app)
    for module in (routes_inference, routes_embeddings, routes_ops, routes_scan, routes_audit):
        app.include_router(module.router)
    app.add_middleware(RequestFraming, metrics=services.metrics, max_body_bytes=services.settings.server.max_body_bytes)
    return app
