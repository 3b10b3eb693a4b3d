"""Key files of the audit store: the Ed25519 signing key, the HMAC key and the capture master key.

All live in one key directory (mode 0700), each file mode 0600. Loaders refuse files that group or
others can read or write, and files that do not hold a key of the expected kind, with one clear line.
A signing key rotation first *stages* the new key next to the current one; only once the store has
durably recorded the rotation is the staged key promoted (and the old private key deleted), so a
crash in between never leaves the store signing with a key its log does not announce.
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

SIGNING_KEY_FILE = "signing_key.pem"
STAGED_SIGNING_KEY_FILE = "signing_key.next.pem"
HMAC_KEY_FILE = "hmac.key"
CAPTURE_KEY_FILE = "capture_master.key"
SECRET_SIZE = 32


class KeyFileError(RuntimeError):
    """A key file or key directory is missing, exposed or corrupt; the message names the file and why."""


def init_keys(key_dir: Path) -> None:
    """Create `key_dir` (0700) with a new signing key and HMAC key (0600); never overwrite a key."""
    _make_key_dir(key_dir)
    for name in (SIGNING_KEY_FILE, HMAC_KEY_FILE):
        if (key_dir / name).exists():
            raise KeyFileError(f"{key_dir / name} already exists; refusing to overwrite a key")
    _write_secret(key_dir / SIGNING_KEY_FILE, _pem(Ed25519PrivateKey.generate()))
    _write_secret(key_dir / HMAC_KEY_FILE, secrets.token_bytes(SECRET_SIZE))


def ensure_keys(key_dir: Path) -> None:
    """Create the keys on first start; afterwards only check that both key files are present."""
    present = [(key_dir / name).exists() for name in (SIGNING_KEY_FILE, HMAC_KEY_FILE)]
    if not any(present):
        init_keys(key_dir)
    elif not all(present):
        raise KeyFileError(f"{key_dir} holds only one of {SIGNING_KEY_FILE} and {HMAC_KEY_FILE}; restore the other")


def init_capture_key(key_dir: Path) -> None:
    """Create the master key that wraps the per-subject data keys of encrypted capture (opt-in)."""
    _make_key_dir(key_dir)
    path = key_dir / CAPTURE_KEY_FILE
    if path.exists():
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key")
    _write_secret(path, secrets.token_bytes(SECRET_SIZE))


def load_signing_key(key_dir: Path) -> Ed25519PrivateKey:
    """The current Ed25519 signing key."""
    return _parse_signing_key(key_dir / SIGNING_KEY_FILE, _read_secret(key_dir / SIGNING_KEY_FILE))


def load_hmac_key(key_dir: Path) -> bytes:
    """The 32-byte key of the HMAC digests that records hold instead of text."""
    return _load_raw_secret(key_dir / HMAC_KEY_FILE)


def load_capture_key(key_dir: Path) -> bytes:
    """The 32-byte capture master key; a clear error when encrypted capture was never enabled."""
    if not (key_dir / CAPTURE_KEY_FILE).exists():
        raise KeyFileError(f"encrypted capture is not enabled: {key_dir / CAPTURE_KEY_FILE} does not exist")
    return _load_raw_secret(key_dir / CAPTURE_KEY_FILE)


def stage_signing_key(key_dir: Path) -> Ed25519PrivateKey:
    """Generate the next signing key and write it beside the current one, not yet in force."""
    path = key_dir / STAGED_SIGNING_KEY_FILE
    if path.exists():
        raise KeyFileError(f"{path} exists: an earlier rotation is unfinished; reopen the store to resolve it")
    key = Ed25519PrivateKey.generate()
    _write_secret(path, _pem(key))
    return key


def load_staged_signing_key(key_dir: Path) -> Ed25519PrivateKey | None:
    """The staged signing key of an unfinished rotation, if any."""
    path = key_dir / STAGED_SIGNING_KEY_FILE
    if not path.exists():
        return None
    return _parse_signing_key(path, _read_secret(path))


def promote_staged_key(key_dir: Path) -> None:
    """Make the staged key current (atomic rename); the old private key is gone afterwards."""
    os.replace(key_dir / STAGED_SIGNING_KEY_FILE, key_dir / SIGNING_KEY_FILE)
    fsync_dir(key_dir)


def discard_staged_key(key_dir: Path) -> None:
    """Drop a staged key whose rotation was never recorded."""
    (key_dir / STAGED_SIGNING_KEY_FILE).unlink(missing_ok=True)
    fsync_dir(key_dir)


def _make_key_dir(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_private(path: Path, kind: str) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise KeyFileError(f"{kind} {path} does not exist") from None
    if mode & 0o077:
        wanted = "0700" if kind == "key directory" else "0600"
        raise KeyFileError(f"{kind} {path} has mode {mode:04o}; it must be {wanted} (chmod {wanted[1:]} {path})")


def _read_secret(path: Path) -> bytes:
    _check_private(path.parent, "key directory")
    _check_private(path, "key file")
    return path.read_bytes()


def _load_raw_secret(path: Path) -> bytes:
    data = _read_secret(path)
    if len(data) != SECRET_SIZE:
        raise KeyFileError(f"key file {path} is corrupt: expected {SECRET_SIZE} bytes, found {len(data)}")
    return data


def _parse_signing_key(path: Path, data: bytes) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileError(f"key file {path} is corrupt: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path} holds a {type(key).__name__}, not an Ed25519 key")
    return key
