"""Everything one appliance process runs on, opened in a safe order and closed in reverse."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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
from policies.detect.batcher import ScanBatcher
from policies.pack import load_packs
from policies.policy_engine import PolicyEngine

T = TypeVar("T")


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
    detector: ScanBatcher | None
    egress: EgressGuard | None
    capture: CaptureVault | None
    tls: ServingTls | None = None

    def close(self) -> None:
        self.engine.close()
        if self.detector is not None:
            self.detector.close()
        self.keys.close()
        self.audit.close()


def open_services(settings: Settings, egress: EgressGuard | None) -> Services:
    """Check the TLS files, open the audit store (so everything after it is recorded), then keys, egress
    guard, packs, detector, model, routes and metrics, and record the start; a failing step closes the stores."""
    data = DataDir(settings.data_dir)
    if not data.initialised:
        raise StartupError(f"data directory {data.root} is not initialised: run `appliance init --data-dir {data.root}`")
    tls = ServingTls(settings.server.tls) if settings.server.tls is not None else None
    audit = open_audit(settings)
    keys: ApiKeyStore | None = None
    detector: ScanBatcher | None = None
    try:
        keys = _step("API keys", lambda: open_key_store(settings))
        if egress is not None:
            _guard_egress(egress, settings, audit)
        packs_dir = Path(settings.policy.packs_dir) if settings.policy.packs_dir else None
        policy = _step("policy packs refused", lambda: PolicyEngine(load_packs(packs_dir)))
        detector = _step("PII/PHI detector cannot load", lambda: ScanBatcher(Detector.load()))
        registry = audited_registry(data, audit)
        engine = Engine(registry, settings.engine)
        _step(f"default model {settings.engine.default_model!r} refused",
              lambda: engine.load(settings.engine.default_model))
        routes = _route_table(settings, registry, engine)
        capture = open_capture(audit) if settings.audit.capture else None
        metrics = _metrics(engine, egress, tls)
        audit.append("service_start", {"pid": os.getpid(), "mode": settings.egress.mode,
                                       "packs": policy.packs_info(), "default_model": settings.engine.default_model,
                                       "tls": tls.report() if tls is not None else None})
    except BaseException:
        if detector is not None:
            detector.close()
        if keys is not None:
            keys.close()
        audit.close()
        raise
    return Services(settings, data, keys, registry, engine, routes, policy, audit, metrics, detector, egress, capture,
                    tls)


def _step(what: str, run: Callable[[], T]) -> T:
    """Run one start-up step; any failure becomes a StartupError saying which step (cause not chained)."""
    try:
        return run()
    except Exception as exc:
        raise StartupError(f"{what}: {exc}") from None


def _guard_egress(egress: EgressGuard, settings: Settings, audit: AuditLog) -> None:
    """Let the guard through to the configured backends only, and record every connection it refuses."""
    egress.configure(EgressPolicy.for_backend_urls(
        settings.egress.mode, settings.reachable_backend_urls, settings.egress.loopback))
    egress.attach_sink(lambda event: audit.append("egress_block", egress_fields(event)))


def _route_table(settings: Settings, registry: ModelRegistry, engine: Engine) -> RouteTable:
    """Where each requested model goes: the local engine, or a configured backend through the router."""
    local = LocalBackend(engine, settings.engine.default_max_tokens)
    router = build_router(settings, local) if settings.backends or settings.routing.aliases else None
    return RouteTable(registry, local, router, {b.name: b.model for b in settings.backends},
                      air_gapped=settings.egress.mode == "air-gapped")


def _metrics(engine: Engine, egress: EgressGuard | None, tls: ServingTls | None) -> Metrics:
    """The Prometheus metrics, with the gauges read live from the engine, the guard and the certificate."""
    metrics = Metrics()
    metrics.track_engine(engine.queue_depth, engine.active_jobs)
    if egress is not None:
        metrics.track_egress(lambda: sum(egress.report()["counters"]["blocked"].values()))
    if tls is not None:
        metrics.track_tls(tls.days_to_expiry)
    return metrics



def open_capture(audit: AuditLog) -> CaptureVault:
    """The encrypted capture vault (operator opt-in), creating its master key on first use."""
    if not (audit.key_dir / CAPTURE_KEY_FILE).exists():
        init_capture_key(audit.key_dir)
    return CaptureVault(audit)
