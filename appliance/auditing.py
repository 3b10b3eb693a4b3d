"""Opening the audit store for this appliance, the fields that say who did what, and audited
wrappers of what changes state."""
from __future__ import annotations

from typing import Any, Mapping

from appliance.auth import Principal
from appliance.config import Settings
from appliance.datadir import DataDir
from appliance.engine.registry import ModelRegistry
from audit.log import AuditLog


# The actor of records written by commands run on the appliance host (no API key involved).
LOCAL_CLI_ACTOR: dict[str, str] = {"actor": "local-cli", "actor_role": "admin"}


class StartupError(RuntimeError):
    """The appliance cannot start; the message says what to fix, in one line."""


def call_fields(request_id: str, principal: Principal | None, *, endpoint: str | None = None,
                client: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Which call, by whom, from where: the fields every record of an API or console call starts with.

    `actor` is the key id (the filter auditors use), with the key's name, role and purpose of use;
    `client` is the connection's address and, under mutual TLS, `client_cert_sha256`.
    """
    fields: dict[str, Any] = {"request_id": request_id}
    if endpoint is not None:
        fields["endpoint"] = endpoint
    if principal is not None:
        fields.update(actor=principal.key_id, actor_name=principal.name, actor_role=principal.role,
                      purpose=principal.purpose)
    fields.update(client or {})
    return fields


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
        store.append(event, {**details, **LOCAL_CLI_ACTOR})

    return ModelRegistry.for_data_dir(data.root, on_change=record)
