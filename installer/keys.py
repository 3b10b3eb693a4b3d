"""The publisher's Ed25519 key pair: generated once, kept offline, its fingerprint given to hospital IT."""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from installer.install import fingerprint

PRIVATE_KEY = "publisher.key"
PUBLIC_KEY = "publisher.pub"


def raw_public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def keygen(out: Path) -> str:
    """Write OUT/publisher.key (0600, PEM PKCS#8) and OUT/publisher.pub; return the fingerprint."""
    if (out / PRIVATE_KEY).exists():
        raise FileExistsError(f"{out / PRIVATE_KEY} already exists; refusing to overwrite a publisher key")
    out.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    descriptor = os.open(out / PRIVATE_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private)
    (out / PUBLIC_KEY).write_bytes(public_pem(key))
    return fingerprint(raw_public_bytes(key))


def load_private_key(key_dir: Path) -> Ed25519PrivateKey:
    """The publisher key from a `keygen` directory (or a PEM file); refused if it is not Ed25519."""
    path = key_dir / PRIVATE_KEY if key_dir.is_dir() else key_dir
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key
