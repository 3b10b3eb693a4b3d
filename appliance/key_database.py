"""API keys in the shared PostgreSQL database: every node accepts the same keys, a revocation holds everywhere.

With the embedded SQLite audit store the keys stay in `D/api_keys.json` (one node). With PostgreSQL they
live in the table `appliance_api_keys` of the audit database, looked up on every request (no cache, so a
revocation on one node holds on all at once). A key's client certificate binding (mutual TLS) is stored
with it. A node that still has a JSON key file refuses to start until its keys are moved over with
`appliance keys migrate`, so no key silently stops (or keeps) working.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict
from typing import Iterator

from sqlalchemy import (Column, Connection, Engine, MetaData, String, Table, Text, create_engine, insert, inspect, select,
                        update)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from appliance.auth import ApiKeyError, ApiKeyStore, KeyStore, KeyStoreUnavailable, StoredKey
from appliance.config import Settings
from appliance.datadir import DataDir

_metadata = MetaData()
api_keys = Table(
    "appliance_api_keys", _metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40), nullable=True),
    Column("client_cert", Text, nullable=True),  # "sha256:<hex>" or "subject:<RFC 4514 name>"
)


def keys_in_database(settings: Settings) -> bool:
    """Whether API keys live in the shared database (a PostgreSQL audit store) rather than the JSON file."""
    return make_url(settings.audit_url).get_backend_name() == "postgresql"


def open_key_store(settings: Settings) -> ApiKeyStore:
    """The node's key store: the shared database with PostgreSQL, else `D/api_keys.json`.

    ApiKeyError when PostgreSQL is configured but the JSON file still holds this node's keys (not migrated).
    """
    data = DataDir(settings.data_dir)
    if not keys_in_database(settings):
        return KeyStore(data.api_keys)
    if data.api_keys.exists():
        raise ApiKeyError(
            f"{data.api_keys} still holds this node's API keys, but with a PostgreSQL audit store keys live in the "
            f"shared database: run `appliance keys migrate --data-dir {data.root}` once"
        )
    return DatabaseKeyStore(settings.audit_url)


def _add_binding_column(conn: Connection) -> None:
    """A table created before keys could be bound to client certificates gets the column (its keys unbound);
    IF NOT EXISTS because another node may be adding it at the same moment."""
    if "client_cert" not in {column["name"] for column in inspect(conn).get_columns(api_keys.name)}:
        conn.exec_driver_sql(f"ALTER TABLE {api_keys.name} ADD COLUMN IF NOT EXISTS client_cert TEXT")


class DatabaseKeyStore(ApiKeyStore):
    """API keys in the `appliance_api_keys` table (created if missing)."""

    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(url, pool_pre_ping=True)
        try:
            with self._errors(), self._engine.begin() as conn:
                _metadata.create_all(conn)
                _add_binding_column(conn)
        except BaseException:
            self._engine.dispose()
            raise

    def import_keys(self, entries: list[StoredKey]) -> list[StoredKey]:
        """Add keys from another store (hashes, roles, purposes and revocations as they are); returns those
        added. A key id already present with other contents is refused (nothing is added then)."""
        with self._errors(), self._engine.begin() as conn:
            present = {row.key_id: StoredKey(**row._mapping) for row in conn.execute(select(api_keys))}
            for entry in entries:
                if entry.key_id in present and present[entry.key_id] != entry:
                    raise ApiKeyError(
                        f"key id {entry.key_id} is already in the database with other contents; nothing migrated"
                    )
            added = [entry for entry in entries if entry.key_id not in present]
            if added:
                conn.execute(insert(api_keys), [asdict(entry) for entry in added])
        return added

    def close(self) -> None:
        self._engine.dispose()

    def _add(self, entry: StoredKey) -> None:
        with self._errors(), self._engine.begin() as conn:
            conn.execute(insert(api_keys).values(**asdict(entry)))

    def _revoke(self, key_id: str, when: str) -> StoredKey:
        with self._errors(), self._engine.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                         .values(revoked_at=when))
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise ApiKeyError(f"no key with id {key_id!r}")
        return StoredKey(**row._mapping)

    def _all(self) -> list[StoredKey]:
        with self._errors(), self._engine.connect() as conn:
            return [StoredKey(**row._mapping) for row in conn.execute(select(api_keys))]

    def _find(self, key_id: str) -> StoredKey | None:
        with self._errors(), self._engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        return None if row is None else StoredKey(**row._mapping)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            first_line = (str(cause).strip().splitlines() or [""])[0]
            raise KeyStoreUnavailable(f"API key database unavailable: {type(cause).__name__}: {first_line}") from None
