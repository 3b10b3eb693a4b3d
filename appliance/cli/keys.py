"""`appliance keys`: create (printed once), list and revoke API keys; every change is audited."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from appliance.auth import ROLES, KeyStore
from appliance.cli.common import DataDirOption, one_line_errors
from appliance.datadir import DataDir
from audit.store import AuditStore

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True, pretty_exceptions_enable=False)


def mint_key(keys: KeyStore, audit: AuditStore, name: str, role: str, purpose: str, *, replace: bool = False,
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


def _open(data_dir: Path) -> tuple[KeyStore, AuditStore]:
    from appliance.config import load_settings
    from appliance.auditing import open_audit

    settings = load_settings(data_dir=data_dir)
    data = DataDir(settings.data_dir)
    if not data.initialised:
        raise RuntimeError(f"data directory {data.root} is not initialised: run `appliance init --data-dir {data.root}`")
    return KeyStore(data.api_keys), open_audit(settings)


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
    typer.echo(f"created {role} key {name!r} (purpose {purpose}); store it now, it is not shown again:")
    typer.echo(token)


@keys_app.command("list")
def list_keys(data_dir: DataDirOption = Path("data")) -> None:
    """List keys (ids, names, roles; never the keys themselves)."""
    with one_line_errors():
        keys = KeyStore(DataDir(data_dir).api_keys)
        rows = keys.list()
    for k in rows:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        bound = f"  bound to {k.client_cert}" if k.client_cert else ""
        typer.echo(f"{k.key_id}  {k.role:9s} {k.name:20s} purpose={k.purpose:10s} created {k.created_at}  {state}{bound}")


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by `keys list`.")],
           data_dir: DataDirOption = Path("data")) -> None:
    """Revoke a key; it stops working at once."""
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
    typer.echo(f"revoked {key_id}")
