"""The verifier's rules for one record, and the key chain they are checked against (standard library plus
`cryptography`). The sequential walk (`audit.verify`) and the parallel one (`audit.verify_parallel`) both
apply exactly these functions, so they accept the same records.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.checkpoint import key_fingerprint, verify_head
from audit.format import KEY_ROTATION, RECORDS_FILE
from audit.verify_files import MAX_RECORD_LINE, VerifyError

ALTERED = "altered: its hash no longer matches the prev of the record after it"
_decode = json.JSONDecoder().raw_decode


def read_record(raw: bytes, seq: int) -> tuple[dict[str, Any], bytes]:
    """A records.jsonl line (`raw`, newline included) as (record, canonical JSON): at most MAX_RECORD_LINE
    bytes, ended by a newline, one JSON object and nothing after it. `seq` is where it stands."""
    if len(raw) > MAX_RECORD_LINE:
        raise VerifyError(f"longer than {MAX_RECORD_LINE} bytes, the most a record may take", seq)
    if not raw.endswith(b"\n"):
        raise VerifyError(f"the last line of {RECORDS_FILE} is cut short", seq)
    line = raw[:-1]
    try:
        text = line.decode("utf-8")
        record, end = _decode(text)
    except (ValueError, RecursionError):
        raise VerifyError("not valid JSON (or nested too deeply)", seq) from None
    if end != len(text):
        raise VerifyError("not valid JSON (text after the record)", seq)
    if not isinstance(record, dict):
        raise VerifyError("not a JSON object", seq)
    return record, line


def check_seq(record: dict[str, Any], seq: int) -> None:
    """The record standing at `seq` must say it is record `seq`."""
    found = record.get("seq")
    if found != seq or type(found) is not int:
        raise VerifyError(f"found seq {found!r} where seq {seq} belongs: records were deleted, inserted or reordered", seq)


def claimed_prev(record: dict[str, Any]) -> str | None:
    """The predecessor's leaf hash (hex) the record names, or None when it names none that could be one."""
    prev = record.get("prev")
    return prev if type(prev) is str and len(prev) == 64 else None


def is_rotation(record: dict[str, Any]) -> bool:
    """Whether the record announces a new signing key."""
    return record.get("kind") == KEY_ROTATION


def record_ts(record: dict[str, Any]) -> str:
    """The record's timestamp, as the report shows it."""
    return str(record.get("ts"))


class KeyChain:
    """The key in force, starting at the first key and switching after each rotation's signed head."""

    def __init__(self, genesis: Ed25519PublicKey) -> None:
        self.current = genesis
        self.fingerprint = key_fingerprint(genesis)
        self.keys = [genesis]
        self.rotations = 0
        self._pending: list[tuple[int, Ed25519PublicKey]] = []

    def announce(self, seq: int, record: dict[str, Any]) -> None:
        """Note a key_rotation record; it takes effect once a head signed by the current key covers it."""
        try:
            raw = base64.b64decode(record["new_public_key"], validate=True)
            new_key = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise VerifyError("key rotation record does not hold a valid Ed25519 public key", seq) from None
        if record.get("new_key_fingerprint") != key_fingerprint(new_key):
            raise VerifyError("key rotation record's fingerprint does not match its new public key", seq)
        self._pending.append((seq, new_key))

    def check_head(self, head: dict[str, Any], leaf: bytes) -> None:
        """Check the head over record head["last_seq"] (whose leaf hash is `leaf`), then apply rotations."""
        seq = head["last_seq"]
        if head.get("leaf") != leaf.hex():
            raise VerifyError("does not match the hash its head signature covers (record altered)", seq)
        if head.get("key_fingerprint") != self.fingerprint:
            raise VerifyError(f"head names key {head.get('key_fingerprint')!r}, but key {self.fingerprint} was in force", seq)
        if not isinstance(head.get("signature"), str) or not verify_head(self.current, seq, leaf, head["signature"]):
            raise VerifyError(f"head signature does not verify with key {self.fingerprint}", seq)
        while self._pending and self._pending[0][0] <= seq:
            _, self.current = self._pending.pop(0)
            self.fingerprint = key_fingerprint(self.current)
            self.keys.append(self.current)
            self.rotations += 1

    def finish(self) -> None:
        if self._pending:
            raise VerifyError("key rotation is not covered by a head signed with the previous key", self._pending[0][0])


@dataclass
class Walk:
    """What walking the records established."""

    count: int = 0
    last_seq: int = -1
    first_leaf: bytes = b""
    last_leaf: bytes = b""
    first_ts: str = ""
    last_ts: str = ""

    def add(self, count: int, last_seq: int, first_leaf: bytes, last_leaf: bytes, first_ts: str, last_ts: str) -> None:
        """`count` more records, the last of them `last_seq`, in order after those walked so far."""
        if self.count == 0:
            self.first_leaf, self.first_ts = first_leaf, first_ts
        self.count += count
        self.last_seq, self.last_leaf, self.last_ts = last_seq, last_leaf, last_ts
