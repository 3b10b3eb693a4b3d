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


_HOLE = "\x00"  # stands in for seq, ts and prev while the rest of a record is serialised
_HOLE_JSON = b'"\\u0000"'  # how the encoder writes it: control characters are always escaped
_PLAIN_KEYS = frozenset({str})


_RAISE_UNSERIALISABLE = json.JSONEncoder().default  # what json.dumps calls for a value it cannot encode


def _canonical_text(value: Any) -> str:
    """`canonical_json` as text: the C encoder `json.dumps` builds for these options, without its Python layers."""
    if c_make_encoder is None:  # no C accelerator in this Python: json.dumps itself
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    encode = c_make_encoder({}, _RAISE_UNSERIALISABLE, encode_basestring, None, ":", ",", True, False, False)
    return "".join(encode(value, 0))


class RecordSkeleton:
    """A record's canonical JSON, serialised once, with holes where the store later puts seq, ts and prev.

    `render(seq, ts, prev)` returns exactly `canonical_json({**fields, "seq": seq, "ts": ts, "kind": kind,
    "prev": prev})`: the encoder writes the sorted top-level pairs one after another, each value
    independently of its neighbours, so filling the three holes in place yields the same bytes. The holes
    are found by splitting at the JSON text of a one-NUL string; when a field value also serialises to
    that text (the split is ambiguous) or a key is a str subclass (which may sort by its own rules),
    `render` serialises the whole record instead. The fields are copied: later changes do not reach it.
    Raises ValueError when a field name is not a string or is a store field, or a value is not JSON.
    """

    __slots__ = ("kind", "_record", "_parts")

    def __init__(self, kind: str, fields: dict[str, Any]) -> None:
        key_types = {*map(type, fields)}
        if not key_types <= _PLAIN_KEYS:
            for key in fields:
                if not isinstance(key, str):
                    raise ValueError(f"audit record field names must be strings, not {type(key).__name__}")
        if not STORE_FIELDS.isdisjoint(fields):
            reserved = min(STORE_FIELDS.intersection(fields))
            raise ValueError(f"audit record field {reserved!r} is reserved (the store sets seq, ts, kind, prev)")
        self.kind = kind
        self._record = {**fields, "seq": _HOLE, "ts": _HOLE, "kind": kind, "prev": _HOLE}  # canonical_json's order
        try:
            parts = _canonical_text(self._record).encode().split(_HOLE_JSON)
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError (lone surrogates) is a ValueError
            raise ValueError(f"audit record fields are not JSON-serialisable: {exc}") from None
        self._parts = parts if len(parts) == 4 and key_types <= _PLAIN_KEYS else None

    def field(self, name: str) -> Any:
        """The caller's field `name` (None when absent)."""
        return None if name in STORE_FIELDS else self._record.get(name)

    def render(self, seq: int, ts: str, prev: str) -> bytes:
        """The canonical JSON of the record numbered `seq`, stamped `ts`, chained to `prev`."""
        parts = self._parts
        if parts is None or type(seq) is not int:
            return canonical_json({**self._record, "seq": seq, "ts": ts, "prev": prev})
        return b"".join((  # sorted keys put the holes in the order prev, seq, ts
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
