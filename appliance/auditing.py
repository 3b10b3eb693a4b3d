"""Opening the audit store for this appliance, and audited wrappers of what changes state."""
from __future__ import annotations

from typing import Any

from appliance.config import Settings
from appliance.datadir import DataDir
from appliance.engine.registry import ModelRegistry
from audit.log import AuditLog


class StartupError(RuntimeError):
    """The appliance cannot start; the message says what to fix, in one line."""


def open_audit(settings: Settings, *, accept_loss: bool = False) -> AuditLog:
    """The audit store; StartupError in one line when it cannot open (tail truncation included)."""
    data = DataDir(settings.data_dir)
    try:
        return AuditLog.open(
            settings.audit_url, data.keys_dir,
            checkpoint_every=settings.audit.checkpoint_every, checkpoint_seconds=settings.audit.checkpoint_seconds,
            accept_loss=accept_loss,
        )
    except Exception as exc:
        raise StartupError(f"audit store cannot open ({type(exc).__name__}: {exc})") from None


def audited_registry(data: DataDir, store: AuditLog) -> ModelRegistry:
    """The model registry; every import and removal is written to the audit log first."""

    def record(event: str, details: dict[str, Any]) -> None:
        store.append(event, {**details, "actor": "local-cli", "actor_role": "admin"})

    return ModelRegistry.for_data_dir(data.root, on_change=record)
