"""`appliance keys`: create (printed once), list, revoke and migrate API keys; every change is audited."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from appliance.auth import ROLES, ApiKeyStore, KeyStore
from appliance.cli.common import DataDirOption, one_line_errors
from appliance.datadir import DataDir
from audit.log import AuditLog

if TYPE_CHECKING:
    from appliance.config import Settings

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True, pretty_exceptions_enable=False)
MIGRATED_SUFFIX = ".migrated"


def mint_key(keys: ApiKeyStore, audit: AuditLog, name: str, role: str, purpose: str, *, replace: bool = False,
             client_cert: str | None = None) -> str:
    """Create a key (revoking live keys of the same name first when `replace`), audited; returns the token."""
    if replace:
        for old in keys.list():
            if old.name == name and old.revoked_at is None:
                audit.append("key_change", {"action": "revoke", "key_id": old.key_id, "key_name": old.name, "role": old.role})
                keys.revoke(old.key_id)
    entry, token = keys.create(name, role, purpose, client_cert)
    binding = {"client_cert": client_cert} if client_cert else {}
    audit.append("key_change", {"action": "create", "key_id": entry.key_id, "key_name": name, "role": role,
                                "purpose": purpose, **binding})
    return token


def cert_binding(cert_file: Path | None, subject: str | None) -> str | None:
    """The stored form of a key's client certificate binding (fingerprint of a PEM file, or a subject)."""
    if cert_file is not None and subject is not None:
        raise ValueError("give --client-cert or --client-subject, not both")
    if cert_file is not None:
        from appliance.tls.certs import read_leaf

        return f"sha256:{read_leaf(cert_file).sha256}"
    return f"subject:{subject}" if subject is not None else None


def _settings(data_dir: Path) -> Settings:
    """The node's settings, once its data directory is initialised."""
    from appliance.config import load_settings

    settings = load_settings(data_dir=data_dir)
    data = DataDir(settings.data_dir)
    if not data.initialised:
        raise RuntimeError(f"data directory {data.root} is not initialised: run `appliance init --data-dir {data.root}`")
    return settings


def _open(data_dir: Path) -> tuple[ApiKeyStore, AuditLog]:
    from appliance.auditing import open_audit
    from appliance.key_database import open_key_store

    settings = _settings(data_dir)
    keys = open_key_store(settings)
    try:
        return keys, open_audit(settings)
    except BaseException:
        keys.close()
        raise


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    purpose: Annotated[str, typer.Option(help="Purpose of use the policy packs see (e.g. treatment, research).")] = "treatment",
    client_cert: Annotated[Optional[Path], typer.Option(
        "--client-cert", help="Bind the key to this client certificate (PEM): it works only over mutual TLS with it.")] = None,
    client_subject: Annotated[Optional[str], typer.Option(
        "--client-subject", help="Bind the key to client certificates with this subject (RFC 4514, e.g. 'CN=ward-7').")] = None,
    data_dir: DataDirOption = Path("data"),
) -> None:
    """Create a key. The key is printed once, alone on the last line; only its hash is kept."""
    with one_line_errors():
        binding = cert_binding(client_cert, client_subject)
        keys, audit = _open(data_dir)
        try:
            token = mint_key(keys, audit, name, role, purpose, client_cert=binding)
        finally:
            audit.close()
            keys.close()
    typer.echo(f"created {role} key {name!r} (purpose {purpose}); store it now, it is not shown again:")
    typer.echo(token)


@keys_app.command("list")
def list_keys(data_dir: DataDirOption = Path("data")) -> None:
    """List keys (ids, names, roles; never the keys themselves)."""
    from appliance.key_database import open_key_store

    with one_line_errors():
        keys = open_key_store(_settings(data_dir))
        try:
            rows = keys.list()
        finally:
            keys.close()
    for k in rows:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        bound = f"  bound to {k.client_cert}" if k.client_cert else ""
        typer.echo(f"{k.key_id}  {k.role:9s} {k.name:20s} purpose={k.purpose:10s} created {k.created_at}  {state}{bound}")


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by `keys list`.")],
           data_dir: DataDirOption = Path("data")) -> None:
    """Revoke a key; it stops working at once (on every node sharing a PostgreSQL store)."""
    with one_line_errors():
        keys, audit = _open(data_dir)
        try:
            entry = next((k for k in keys.list() if k.key_id == key_id), None)
            if entry is None:
                raise ValueError(f"no key with id {key_id!r}")
            audit.append("key_change", {"action": "revoke", "key_id": key_id, "key_name": entry.name, "role": entry.role})
            keys.revoke(key_id)
        finally:
            audit.close()
            keys.close()
    typer.echo(f"revoked {key_id}")


@keys_app.command("migrate")
def migrate(data_dir: DataDirOption = Path("data")) -> None:
    """Move this node's keys from D/api_keys.json into the shared database (PostgreSQL audit store).

    Hashes, roles, purposes and revocations move as they are, so every key keeps working (or stays revoked)
    on every node; the move is audited and the file is renamed api_keys.json.migrated. Run it once per node.
    """
    from appliance.auditing import open_audit
    from appliance.key_database import DatabaseKeyStore, keys_in_database

    with one_line_errors():
        settings = _settings(data_dir)
        source = DataDir(settings.data_dir).api_keys
        if not keys_in_database(settings):
            raise ValueError(f"API keys stay in {source} with the SQLite audit store; migrate applies once audit.url "
                             "names the shared PostgreSQL database")
        if not source.exists():
            raise ValueError(f"nothing to migrate: {source} does not exist")
        entries = KeyStore(source).list()
        keys, audit = DatabaseKeyStore(settings.audit_url), open_audit(settings)
        try:
            audit.append("key_change", {"action": "migrate", "key_ids": [k.key_id for k in entries], "from": str(source)})
            added = keys.import_keys(entries)
        finally:
            audit.close()
            keys.close()
        source.rename(source.with_name(source.name + MIGRATED_SUFFIX))
    typer.echo(f"migrated {len(added)} API keys into the shared database ({len(entries) - len(added)} were already "
               f"there); {source.name} renamed {source.name + MIGRATED_SUFFIX}")
