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
from json.encoder import encode_basestring
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.exceptions import InvalidSignature

GENESIS_PREV = "0" * 64
HEAD_DOMAIN = b"appliance-audit-head/v1\n"
STORE_FIELDS = frozenset({"seq", "ts", "kind", "prev"})


def canonical_json(record: dict[str, Any]) -> bytes:
    """Deterministic bytes of a record: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def leaf_hash(record: dict[str, Any]) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || canonical JSON)."""
    return hashlib.sha256(b"\x00" + canonical_json(record)).digest()


def leaf_hash_of_bytes(body: bytes) -> bytes:
    """RFC 6962 leaf hash of a record already in canonical JSON: SHA-256(0x00 || body)."""
    return hashlib.sha256(b"\x00" + body).digest()


_encode_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_HOLE = "\x00"  # stands in for prev, seq and ts while the rest of a record is serialised
_HOLE_JSON = '"\\u0000"'  # how the encoder writes it: control characters are always escaped


class RecordSkeleton:
    """A record's canonical JSON, serialised once, with holes where the store later puts prev, seq and ts.

    `render(seq, ts, prev)` returns exactly `canonical_json({**fields, "seq": seq, "ts": ts, "kind": kind,
    "prev": prev})`: the encoder writes the sorted top-level pairs one after another, each value
    independently of its neighbours, so filling the three holes in place yields the same bytes. The holes
    are found by splitting at the JSON text of a one-NUL string; when a field value also serialises to
    that text (the split is ambiguous) or a key is not a plain str, `render` serialises the whole record.
    Raises ValueError when the fields are not JSON (or use a store field's name).
    """

    __slots__ = ("kind", "fields", "_parts")

    def __init__(self, kind: str, fields: dict[str, Any]) -> None:
        if not STORE_FIELDS.isdisjoint(fields):
            raise ValueError(f"audit record fields may not set {sorted(STORE_FIELDS.intersection(fields))}")
        self.kind, self.fields = kind, fields
        try:
            text = _encode_canonical({**fields, "seq": _HOLE, "ts": _HOLE, "kind": kind, "prev": _HOLE})
            parts = [part.encode() for part in text.split(_HOLE_JSON)]
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError (lone surrogates) is a ValueError
            raise ValueError(f"audit record fields are not JSON-serialisable: {exc}") from None
        # Keys of str subclasses may sort by their own rules: leave those records to canonical_json.
        self._parts = parts if len(parts) == 4 and all(type(key) is str for key in fields) else None

    def render(self, seq: int, ts: str, prev: str) -> bytes:
        """The canonical JSON of the record numbered `seq`, stamped `ts`, chained to `prev`."""
        parts = self._parts
        if parts is None or type(seq) is not int:
            return canonical_json({**self.fields, "seq": seq, "ts": ts, "kind": self.kind, "prev": prev})
        return b"".join((
            parts[0], encode_basestring(prev).encode(), parts[1], str(seq).encode(), parts[2],
            encode_basestring(ts).encode(), parts[3],
        ))


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
