"""`appliance init`: a data directory ready to serve, from nothing, without network."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from appliance.auditing import audited_registry, open_audit
from appliance.auth import ROLES
from appliance.cli.keys import mint_key
from appliance.config import load_settings
from appliance.datadir import DataDir
from appliance.engine.default_model import ensure_default_model
from appliance.key_database import open_key_store
from audit.keys import ensure_keys

INITIAL_PURPOSE = {"clinical": "treatment", "auditor": "operations", "admin": "operations"}


def appliance_version() -> str:
    """The installed distribution's version (what `installer build` put in the bundle)."""
    return metadata.version("compliance-appliance")


@dataclass(frozen=True)
class Initialised:
    fingerprint: str
    model_id: str
    tokens: dict[str, str]


def initialise(data_dir: Path, *, if_missing: bool = False) -> Initialised | None:
    """Create keys, register the default model (hash-pinned) and one API key per role.

    Returns None when `if_missing` and the directory is already initialised.
    """
    data = DataDir(data_dir)
    if data.initialised:
        if if_missing:
            return None
        raise ValueError(f"{data.root} is already initialised")
    data.create()
    ensure_keys(data.keys_dir)
    settings = load_settings(data_dir=data.root)
    store = open_audit(settings)
    try:
        entry = ensure_default_model(audited_registry(data, store))
        keys = open_key_store(settings)
        try:
            tokens = {role: mint_key(keys, store, f"initial-{role}", role, INITIAL_PURPOSE[role]) for role in ROLES}
        finally:
            keys.close()
        store.append("init", {"model_id": entry.id, "model_sha256": entry.sha256, "version": appliance_version()})
        fingerprint = store.signing_fingerprint
    finally:
        store.close()
    data.marker.write_text(datetime.now(UTC).isoformat() + "\n")
    data.version_file.write_text(appliance_version() + "\n")
    return Initialised(fingerprint, entry.id, tokens)


def record_version_change(data_dir: Path) -> tuple[str, str] | None:
    """After an upgrade or rollback: a `version_change` record when this version differs from the
    one that last ran `init` on the directory. Returns (from, to), or None when unchanged."""
    data = DataDir(data_dir)
    current = appliance_version()
    previous = data.version_file.read_text().strip() if data.version_file.is_file() else "unknown"
    if previous == current:
        return None
    store = open_audit(load_settings(data_dir=data.root))
    try:
        store.append("version_change", {"from": previous, "to": current})
    finally:
        store.close()
    data.version_file.write_text(current + "\n")
    return previous, current
