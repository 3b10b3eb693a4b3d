"""Everything one appliance process runs on, opened in a safe order and closed in reverse."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from appliance.auditing import StartupError, audited_registry, open_audit
from appliance.auth import ApiKeyStore
from appliance.config import Settings
from appliance.datadir import DataDir
from appliance.egress import EgressGuard, EgressPolicy
from appliance.engine.engine import Engine
from appliance.engine.registry import ModelRegistry
from appliance.key_database import open_key_store
from appliance.metrics import Metrics
from appliance.routing.backends import build_router
from appliance.routing.local import LocalBackend
from appliance.routing.table import RouteTable
from appliance.tls.serving import ServingTls
from audit.capture import CaptureVault
from audit.keys import CAPTURE_KEY_FILE, init_capture_key
from audit.log import AuditLog
from policies.detect import Detector
from policies.policy_engine import PolicyEngine
from policies.pack import load_packs


def egress_fields(event: dict[str, Any]) -> dict[str, Any]:
    """An egress guard event as audit fields (its `kind` names the socket operation)."""
    return {("operation" if key == "kind" else key): value for key, value in event.items()}


@dataclass
class Services:
    settings: Settings
    data: DataDir
    keys: ApiKeyStore
    registry: ModelRegistry
    engine: Engine
    routes: RouteTable
    policy: PolicyEngine
    audit: AuditLog
    metrics: Metrics
    detector: Detector | None
    egress: EgressGuard | None
    capture: CaptureVault | None
    tls: ServingTls | None = None

    def close(self) -> None:
        self.engine.close()
        self.keys.close()
        self.audit.close()


def open_services(settings: Settings, egress: EgressGuard | None) -> Services:
    """Check the TLS files, open the audit store (so everything after it is recorded), then packs,
    detector, model."""
    data = DataDir(settings.data_dir)
    if not data.initialised:
        raise StartupError(f"data directory {data.root} is not initialised: run `appliance init --data-dir {data.root}`")
    tls = ServingTls(settings.server.tls) if settings.server.tls is not None else None
    audit = open_audit(settings)
    keys: ApiKeyStore | None = None
    try:
        try:
            keys = open_key_store(settings)
        except Exception as exc:
            raise StartupError(f"API keys: {exc}") from None
        if egress is not None:
            egress.configure(EgressPolicy.for_backend_urls(
                settings.egress.mode, settings.reachable_backend_urls, settings.egress.loopback))
            egress.attach_sink(lambda event: audit.append("egress_block", egress_fields(event)))
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
        routes = RouteTable(registry, local, router, {b.name: b.model for b in settings.backends},
                            air_gapped=settings.egress.mode == "air-gapped")
        capture = open_capture(audit) if settings.audit.capture else None
        metrics = Metrics()
        metrics.track_engine(engine.queue_depth, engine.active_jobs)
        if egress is not None:
            metrics.track_egress(lambda: sum(egress.report()["counters"]["blocked"].values()))
        if tls is not None:
            metrics.track_tls(tls.days_to_expiry)
        audit.append("service_start", {"pid": os.getpid(), "mode": settings.egress.mode,
                                       "packs": policy.packs_info(), "default_model": settings.engine.default_model,
                                       "tls": tls.report() if tls is not None else None})
    except BaseException:
        if keys is not None:
            keys.close()
        audit.close()
        raise
    return Services(settings, data, keys, registry, engine, routes, policy, audit, metrics, detector, egress, capture,
                    tls)


def open_capture(audit: AuditLog) -> CaptureVault:
    """The encrypted capture vault (operator opt-in), creating its master key on first use."""
    if not (audit.key_dir / CAPTURE_KEY_FILE).exists():
        init_capture_key(audit.key_dir)
    return CaptureVault(audit)
