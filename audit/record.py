"""Canonical form, hashing and signing of audit records (the contract shared by store and verifier).

A record is a flat JSON object. The store fills `seq` (0-based, gap-free), `ts` (RFC 3339 UTC),
`kind` and `prev` (the leaf hash, hex, of record `seq - 1`; `GENESIS_PREV` for record 0) around the
caller's fields. Its leaf hash is the RFC 6962 leaf hash of its canonical JSON, so the records are
both a hash chain and the leaves of a Merkle tree. A commit group is covered by one Ed25519
signature over the group's last (seq, leaf hash): because every record names its predecessor's
hash, that one signature covers the whole chain up to it.
"""
from __future__ import annotations

import base64
import hashlib
import json
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENESIS_PREV = "0" * 64
HEAD_DOMAIN = b"appliance-audit-head/v1\n"
STORE_FIELDS = frozenset({"seq", "ts", "kind", "prev"})


_RAISE_UNSERIALISABLE = json.JSONEncoder().default  # what json.dumps calls for a value it cannot encode


def canonical_text(value: Any) -> str:
    """`canonical_json` as text: the C encoder `json.dumps` builds for these options, without its Python layers."""
    if c_make_encoder is None:  # no C accelerator in this Python: json.dumps itself
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    encode = c_make_encoder({}, _RAISE_UNSERIALISABLE, encode_basestring, None, ":", ",", True, False, False)
    return "".join(encode(value, 0))


def canonical_json(record: dict[str, Any]) -> bytes:
    """Deterministic bytes of a record: sorted keys, no spaces, UTF-8, no NaN."""
    return canonical_text(record).encode()


def leaf_hash(record: dict[str, Any]) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || canonical JSON)."""
    return hashlib.sha256(b"\x00" + canonical_json(record)).digest()


def leaf_hash_of_bytes(body: bytes) -> bytes:
    """RFC 6962 leaf hash of a record already in canonical JSON: SHA-256(0x00 || body)."""
    return hashlib.sha256(b"\x00" + body).digest()


def head_message(last_seq: int, last_leaf: bytes) -> bytes:
    """The bytes a commit-group signature covers."""
    return HEAD_DOMAIN + f"{last_seq}\n{last_leaf.hex()}\n".encode()


def sign_head(key: Ed25519PrivateKey, last_seq: int, last_leaf: bytes) -> str:
    """Base64 Ed25519 signature over the head (last_seq, last_leaf)."""
    return base64.b64encode(key.sign(head_message(last_seq, last_leaf))).decode()


def verify_head(key: Ed25519PublicKey, last_seq: int, last_leaf: bytes, signature_b64: str) -> bool:
    """True when `signature_b64` is a valid signature of the head by `key`."""
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), head_message(last_seq, last_leaf))
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte Ed25519 public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: how reviewers name the appliance's signing key."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()
