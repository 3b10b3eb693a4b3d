"""API keys and principals: random 256-bit tokens shown once, only their SHA-256 stored.

`ApiKeyStore` holds what every key store does (minting, checking a token); `KeyStore` keeps keys in one
JSON file, the default with the embedded SQLite audit store. With PostgreSQL the keys live in the shared
database instead (`appliance.key_database`), so every node accepts the same keys.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from policies.vocabulary import PURPOSES

Role = Literal["clinical", "auditor", "admin"]
ROLES: tuple[str, ...] = ("clinical", "auditor", "admin")
TOKEN_PREFIX = "apl"
PERMISSIONS: dict[str, frozenset[str]] = {
    "clinical": frozenset({"inference", "scan"}),
    "auditor": frozenset({"audit", "scan"}),
    "admin": frozenset({"admin"}),
}


class ApiKeyError(ValueError):
    """A key operation was refused (bad name, unknown id, ...)."""


class KeyStoreUnavailable(RuntimeError):
    """Keys cannot be read or written right now (the shared database is unreachable): refuse, fail closed."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, role and declared purpose of use."""

    key_id: str
    name: str
    role: str
    purpose: str
    client_cert: str | None = None  # "sha256:<hex>" or "subject:<RFC 4514 name>": the key's certificate binding

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def accepts_client_cert(self, sha256: str | None, subject: str | None) -> bool:
        """A key bound to a client certificate works only on a connection that presented that certificate."""
        if self.client_cert is None:
            return True
        kind, _, value = self.client_cert.partition(":")
        return (kind == "sha256" and sha256 == value) or (kind == "subject" and subject == value)


@dataclass
class StoredKey:
    key_id: str
    name: str
    role: str
    purpose: str
    secret_sha256: str
    created_at: str
    revoked_at: str | None = None
    client_cert: str | None = None

    def principal(self) -> Principal:
        return Principal(self.key_id, self.name, self.role, self.purpose, self.client_cert)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_cert_binding(binding: str) -> None:
    """`sha256:<64 hex>` (a certificate's fingerprint) or `subject:<RFC 4514 name>`."""
    kind, _, value = binding.partition(":")
    if kind == "sha256" and re.fullmatch(r"[0-9a-f]{64}", value):
        return
    if kind == "subject" and value.strip():
        return
    raise ApiKeyError("client certificate binding must be 'sha256:<64 lowercase hex>' or 'subject:<name>'")


class ApiKeyStore(ABC):
    """Where API keys live; subclasses store and find entries, this class mints and checks tokens."""

    def create(self, name: str, role: str, purpose: str = "treatment",
               client_cert: str | None = None) -> tuple[StoredKey, str]:
        """A new key, optionally bound to a client certificate; returns the stored entry and the token
        (shown once, never stored)."""
        if client_cert is not None:
            check_cert_binding(client_cert)
        if role not in ROLES:
            raise ApiKeyError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        if purpose not in PURPOSES:
            raise ApiKeyError(f"unknown purpose {purpose!r}; choose one of {', '.join(PURPOSES)}")
        if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ApiKeyError("key name must be 1-64 letters, digits, '-', '_' or '.'")
        secret = secrets.token_urlsafe(32)
        entry = StoredKey(secrets.token_hex(6), name, role, purpose, _digest(secret), _now(), client_cert=client_cert)
        self._add(entry)
        return entry, f"{TOKEN_PREFIX}_{entry.key_id}_{secret}"

    def revoke(self, key_id: str) -> StoredKey:
        """Revoke a key (at once, for every process reading this store); revoking twice changes nothing."""
        return self._revoke(key_id, _now())

    def list(self) -> list[StoredKey]:
        return sorted(self._all(), key=lambda k: k.created_at)

    def authenticate(self, token: str) -> Principal | None:
        """The principal for a bearer token, or None when it is unknown, malformed or revoked."""
        prefix, _, rest = token.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != TOKEN_PREFIX or not key_id or not secret:
            return None
        entry = self._find(key_id)
        if entry is None or entry.revoked_at is not None:
            return None
        if not hmac.compare_digest(entry.secret_sha256, _digest(secret)):
            return None
        return entry.principal()

    def close(self) -> None:
        """Release what the store holds open."""

    @abstractmethod
    def _add(self, entry: StoredKey) -> None: ...

    @abstractmethod
    def _revoke(self, key_id: str, when: str) -> StoredKey:
        """Mark the key revoked at `when` unless it already is; ApiKeyError for an unknown id."""

    @abstractmethod
    def _all(self) -> list[StoredKey]: ...

    @abstractmethod
    def _find(self, key_id: str) -> StoredKey | None: ...


class KeyStore(ApiKeyStore):
    """API keys in one JSON file (mode 0600), re-read when it changes on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float | None = None
        self._keys: dict[str, StoredKey] = {}

    def _load(self) -> dict[str, StoredKey]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._keys, self._mtime = {}, None
            return self._keys
        if mtime != self._mtime:
            try:
                rows = json.loads(self.path.read_text())
                self._keys = {row["key_id"]: StoredKey(**row) for row in rows}
            except (ValueError, TypeError, KeyError) as exc:
                raise ApiKeyError(f"key file {self.path} is corrupt: {exc}") from None
            self._mtime = mtime
        return self._keys

    def _save(self, keys: dict[str, StoredKey]) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump([asdict(k) for k in keys.values()], fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(self.path.with_suffix(".lock"), "a")
        fcntl.flock(lock, fcntl.LOCK_EX)
        return lock

    def _add(self, entry: StoredKey) -> None:
        with self._locked():
            keys = dict(self._load())
            keys[entry.key_id] = entry
            self._save(keys)

    def _revoke(self, key_id: str, when: str) -> StoredKey:
        with self._locked():
            keys = dict(self._load())
            entry = keys.get(key_id)
            if entry is None:
                raise ApiKeyError(f"no key with id {key_id!r}")
            if entry.revoked_at is None:
                entry.revoked_at = when
                self._save(keys)
        return entry

    def _all(self) -> list[StoredKey]:
        return list(self._load().values())

    def _find(self, key_id: str) -> StoredKey | None:
        return self._load().get(key_id)
