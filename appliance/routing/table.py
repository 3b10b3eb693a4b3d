"""Which backends may serve a requested model name, in order of preference.

Local registry ids are served by the local engine. Other names are aliases resolved by the
configured router (aliases, task hints, prompt size). The policy decision for each candidate's zone
still has the final word (see the pipeline).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from appliance.engine.capabilities import local_capabilities, remote_capabilities
from appliance.engine.registry import ModelRegistry, UnknownModel
from appliance.routing.base import Backend
from appliance.routing.local import LocalBackend


class RouteRefused(RuntimeError):
    """Every backend that could serve the model is outside what the egress mode allows."""


class CandidateRouter(Protocol):
    aliases: dict[str, str]
    backends: dict[str, Backend]

    def candidates(self, alias: str, prompt_chars: int, task_hint: str | None) -> list[Backend]: ...


class RouteTable:
    def __init__(self, registry: ModelRegistry, local: LocalBackend, router: CandidateRouter | None,
                 remote_models: dict[str, str], *, air_gapped: bool) -> None:
        self.registry = registry
        self.local = local
        self.router = router
        self.remote_models = remote_models  # backend name -> model name at that backend
        self.air_gapped = air_gapped

    def _is_local_model(self, name: str) -> bool:
        try:
            self.registry.get(name)
        except UnknownModel:
            return False
        return True

    def candidates(self, name: str, prompt_chars: int, task_hint: str | None) -> list[Backend]:
        """Backends to try, best first; empty for an unknown model.

        For an alias: backends its routing rules prefer, then the alias's own backend, never beyond
        it (a client that names a backend is refused rather than silently served elsewhere). In
        air-gapped mode only the local backend is ever a candidate (RouteRefused if that leaves none).
        """
        if self.router is None or name not in self.router.aliases:
            return [self.local] if self._is_local_model(name) else []
        ranked = self.router.candidates(name, prompt_chars, task_hint)
        own = self.router.aliases[name]
        cut = next(i for i, backend in enumerate(ranked) if backend.name == own)
        ranked = ranked[: cut + 1]
        if self.air_gapped:
            ranked = [b for b in ranked if b.zone == "local"]
            if not ranked:
                raise RouteRefused(f"model {name!r} is served outside this machine; air-gapped mode refuses every "
                                   "internal and external route")
        return ranked

    def backend_model(self, backend: Backend, name: str) -> str:
        """The model name to ask `backend` for when the client asked for `name`."""
        if backend is self.local:
            return name if self._is_local_model(name) else self.local.engine.config.default_model
        return self.remote_models[backend.name]

    def model_fields(self, backend: Backend, name: str) -> dict[str, Any]:
        """What the audit record says about the model that answers."""
        if backend is self.local:
            entry = self.registry.get(self.backend_model(backend, name))
            return {"model_id": entry.id, "model_sha256": entry.sha256}
        return {"model_id": self.remote_models[backend.name], "model_sha256": None}

    def listing(self) -> list[tuple[str, int, str, dict[str, Any]]]:
        """(id, created, owner, capabilities) of every servable model name."""
        rows = [(e.id, _epoch(e.added_at), "appliance-local", local_capabilities(e)) for e in self.registry.list()]
        if self.router is not None:
            rows += [(alias, 0, f"appliance-route:{target}", self._alias_capabilities(target))
                     for alias, target in sorted(self.router.aliases.items())]
        return rows

    def _alias_capabilities(self, target: str) -> dict[str, Any]:
        assert self.router is not None
        backend = self.router.backends.get(target)
        if backend is None or backend is self.local:
            return local_capabilities(self.registry.get(self.local.engine.config.default_model))
        return remote_capabilities(getattr(backend, "style", "openai"))


def _epoch(stamp: str) -> int:
    try:
        return int(datetime.fromisoformat(stamp).timestamp())
    except ValueError:
        return 0
