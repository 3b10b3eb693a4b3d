"""The audit log's contract: how records are written and hashed, and how an export is laid out.

Standard library only: the writer (`audit.log`), the export (`audit.export`) and the offline verifier
(`audit.verify`) all take these rules from here, so there is one definition of each.

- Hashing is RFC 6962's (as transparency-dev/merkle's `rfc6962` hasher): a leaf is SHA-256(0x00 ||
  record), an interior node SHA-256(0x01 || left || right), the empty tree's root SHA-256("").
- A record is a flat JSON object in canonical form (sorted keys, no spaces, UTF-8, no NaN). The store
  fills `seq` (0-based, gap-free), `ts`, `kind` and `prev` (the leaf hash, hex, of record `seq - 1`;
  `GENESIS_PREV` for record 0) around the caller's fields, so the records are both a hash chain and
  the leaves of a Merkle tree.
- A commit group's head is one Ed25519 signature over `head_message(last seq, last leaf)`: because every
  record names its predecessor's hash, that one signature covers the whole chain up to it.
- Timestamps are RFC 3339 UTC with microseconds (`TIMESTAMP_FORMAT`), so string order is time order.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

# ---- hashing (RFC 6962) ------------------------------------------------------------------------

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
GENESIS_PREV = "0" * 64  # the `prev` of record 0
_sha256 = hashlib.sha256


def leaf_hash_of_bytes(body: bytes) -> bytes:
    """RFC 6962 leaf hash of a record already in canonical JSON: SHA-256(0x00 || body)."""
    return _sha256(LEAF_PREFIX + body).digest()


def leaf_hash(record: dict[str, Any]) -> bytes:
    """RFC 6962 leaf hash of a record: SHA-256(0x00 || canonical JSON)."""
    return leaf_hash_of_bytes(canonical_json(record))


def node_hash(left: bytes | bytearray, right: bytes | bytearray) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def fingerprint_of(raw_public_key: bytes) -> str:
    """SHA-256 (hex) of a raw 32-byte Ed25519 public key: how reviewers name a signing key."""
    return _sha256(raw_public_key).hexdigest()


# ---- records -----------------------------------------------------------------------------------

STORE_FIELDS = frozenset({"seq", "ts", "kind", "prev"})  # set by the store, never by the caller
HEAD_DOMAIN = b"appliance-audit-head/v1\n"
HEAD_FIELDS = ("last_seq", "leaf", "key_fingerprint", "signature")  # a head as exported

# Record kinds the audit package itself writes or reads (the appliance names the others).
KEY_ROTATION = "key_rotation"
EXPORT = "export"
AUDIT_INTEGRITY = "audit_integrity"
ERASURE = "erasure"

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


def head_message(last_seq: int, last_leaf: bytes) -> bytes:
    """The bytes a commit-group signature covers."""
    return HEAD_DOMAIN + f"{last_seq}\n{last_leaf.hex()}\n".encode()


# ---- timestamps --------------------------------------------------------------------------------

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # e.g. 2025-01-31T12:00:00.123456Z


def format_timestamp(moment: datetime) -> str:
    """`moment` (which must carry a time zone) in the stored format; ValueError for a naive one."""
    if moment.tzinfo is None:
        raise ValueError(f"a timestamp must carry a time zone, {moment.isoformat()!r} does not")
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def utc_timestamp() -> str:
    """Now, in the stored format."""
    return datetime.now(timezone.utc).strftime(TIMESTAMP_FORMAT)


# ---- export layout -----------------------------------------------------------------------------

EXPORT_FORMAT = "appliance-audit-export/1"
RECORDS_FILE = "records.jsonl"  # the records as stored, one canonical JSON object a line
HEADS_FILE = "heads.jsonl"  # the heads (HEAD_FIELDS) of the commit groups ending in the slice
ROTATIONS_FILE = "key_rotations.jsonl"  # key rotations outside the slice, each {"record", "head"}
CHECKPOINT_FILE = "checkpoint"  # the signed checkpoint note the export is proven against
PUBLIC_KEY_FILE = "public_key.pem"  # the log's first signing key (the reviewer's trust anchor)
FINGERPRINT_FILE = "public_key.fingerprint"
PROOFS_FILE = "proofs.json"  # {"tree_size", "inclusion": {seq: [b64]}, "consistency": {size: [b64]}}
MANIFEST_FILE = "manifest.json"  # LogSlice's fields, "format", "origin", "created", "files": {name: sha256}
MANIFEST_SIG_FILE = "manifest.sig"  # base64 Ed25519 signature of the manifest by the current key
EXPORT_FILES = frozenset({RECORDS_FILE, HEADS_FILE, ROTATIONS_FILE, CHECKPOINT_FILE, PUBLIC_KEY_FILE,
                          FINGERPRINT_FILE, PROOFS_FILE, MANIFEST_FILE, MANIFEST_SIG_FILE})


@dataclass(frozen=True)
class LogSlice:
    """A contiguous run of log records and the signed tree it belongs to (as an export's manifest says)."""

    records: int
    first_seq: int
    last_seq: int
    tree_size: int
    root: str
    first_ts: str
    last_ts: str
    genesis_key_fingerprint: str
    signing_key_fingerprint: str
