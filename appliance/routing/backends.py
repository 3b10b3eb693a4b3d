"""Backends and the router, built from the validated configuration."""
from __future__ import annotations

import os

from appliance.config import BackendConfig, Settings
from appliance.routing.base import Backend
from appliance.routing.external import ExternalBackend
from appliance.routing.local import LocalBackend
from appliance.routing.router import Router
from appliance.routing.upstream import UpstreamBackend


def build_backend(config: BackendConfig) -> Backend:
    """An `upstream` (zone internal, OpenAI-compatible) or `external` (zone external) backend."""
    api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
    if config.kind == "upstream":
        return UpstreamBackend(config.name, config.base_url, api_key=api_key, model=config.model,
                               timeout=config.timeout_seconds)
    return ExternalBackend(config.name, config.base_url, style=config.style, api_key=api_key, model=config.model,
                           timeout=config.timeout_seconds)


def build_router(settings: Settings, local: LocalBackend) -> Router:
    backends: dict[str, Backend] = {"local": local}
    backends.update({b.name: build_backend(b) for b in settings.backends})
    routing = settings.routing.model_dump(exclude_none=True)
    routing["rules"] = [{"backend": r["backend"], "when": r.get("when", {})} for r in routing["rules"]]
    return Router.from_config(backends, routing)
