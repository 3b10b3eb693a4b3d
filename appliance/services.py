"""Everything one appliance process runs on, opened in a safe order and closed in reverse."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.auth import KeyStore
from appliance.config import Settings
from appliance.datadir import DataDir
from appliance.egress import EgressGuard, EgressPolicy
from appliance.engine.engine import Engine
from appliance.engine.registry import ModelRegistry
from appliance.metrics import Metrics
from appliance.routing.backends import build_router
from appliance.routing.local import LocalBackend
from appliance.routing.table import RouteTable
from audit.store import AuditStore
from policies.detect import Detector
from policies.engine import PolicyEngine
from policies.pack import load_packs

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The appliance cannot start; the message says what to fix, in one line."""


def open_audit(settings: Settings) -> AuditStore:
    data = DataDir(settings.data_dir)
    try:
        return AuditStore.open(
            settings.audit_url, data.keys_dir,
            checkpoint_every=settings.audit.checkpoint_every, checkpoint_seconds=settings.audit.checkpoint_seconds,
        )
    except Exception as exc:
        raise StartupError(f"audit store cannot open ({type(exc).__name__}: {exc})") from None


def audited_registry(data: DataDir, store: AuditStore) -> ModelRegistry:
    """The model registry; every import and removal is written to the audit log first."""

    def record(event: str, details: dict[str, Any]) -> None:
        store.append(event, {**details, "actor": "local-cli", "actor_role": "admin"})

    return ModelRegistry.for_data_dir(data.root, on_change=record)


@dataclass
class Services:
    settings: Settings
    data: DataDir
    keys: KeyStore
    registry: ModelRegistry
    engine: Engine
    routes: RouteTable
    policy: PolicyEngine
    audit: AuditStore
    metrics: Metrics
    detector: Detector | None
    egress: EgressGuard | None

    def close(self) -> None:
        self.engine.close()
        self.audit.close()


def open_services(settings: Settings, egress: EgressGuard | None) -> Services:
    """Open the audit store first (so everything after it is recorded), then packs, detector, model."""
    data = DataDir(settings.data_dir)
    if not data.initialised:
        raise StartupError(f"data directory {data.root} is not initialised: run `appliance init --data-dir {data.root}`")
    audit = open_audit(settings)
    try:
        if egress is not None:
            urls = [b.base_url for b in settings.backends]
            egress.configure(EgressPolicy.for_backend_urls(settings.egress.mode, urls))
            egress.attach_sink(lambda event: audit.append("egress_block", event))
        packs_dir = Path(settings.policy.packs_dir) if settings.policy.packs_dir else None
        try:
            policy = PolicyEngine(load_packs(packs_dir))
        except Exception as exc:
            raise StartupError(f"policy packs refused: {exc}") from None
        try:
            detector = Detector.load()
        except Exception as exc:
            raise StartupError(f"PII/PHI detector cannot load: {exc}") from None
        registry = audited_registry(data, audit)
        engine = Engine(registry, settings.engine)
        try:
            engine.load(settings.engine.default_model)
        except Exception as exc:
            raise StartupError(f"default model {settings.engine.default_model!r} refused: {exc}") from None
        local = LocalBackend(engine, settings.engine.default_max_tokens)
        router = build_router(settings, local) if settings.backends or settings.routing.aliases else None
        routes = RouteTable(registry, local, router, {b.name: b.model for b in settings.backends})
        metrics = Metrics()
        metrics.track_engine(engine.queue_depth, engine.active_jobs)
        audit.append("service_start", {"pid": os.getpid(), "mode": settings.egress.mode,
                                       "packs": policy.packs_info(), "default_model": settings.engine.default_model})
    except BaseException:
        audit.close()
        raise
    return Services(settings, data, KeyStore(data.api_keys), registry, engine, routes, policy, audit, metrics,
                    detector, egress)
