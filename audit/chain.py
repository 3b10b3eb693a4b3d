"""Turning queued records into a commit group: checked and serialised on the appender's thread
(`record_skeleton`), then numbered after the log's tail, chained, hashed and head-signed on the
committer's (`chain_groups`). The group's head (first seq, key fingerprint, signature) rides on its
last row, so a group goes into the database as one statement.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import sign_head
from audit.format import leaf_hash_of_bytes
from audit.skeleton import RecordSkeleton

Fields = dict[str, Any]


class AppendedRecord(NamedTuple):
    """Where a durable record landed."""

    seq: int
    leaf_hash: str
    ts: str


class ChainedGroup(NamedTuple):
    """A commit group numbered, chained, hashed and signed, ready to insert."""

    first_seq: int
    ts: str
    rows: list[tuple[Any, ...]]  # values in audit.sql.RECORD_COLUMNS order
    leaves: list[bytes]
    results: list[list[AppendedRecord]]  # per submission


def record_skeleton(kind: str, fields: Fields) -> RecordSkeleton:
    """Check and serialise a record (on the appender's thread); ValueError says what is wrong with it."""
    if not isinstance(kind, str) or not kind:
        raise ValueError("audit record kind must be a non-empty string")
    if not isinstance(fields, dict):
        raise ValueError(f"audit record fields must be a dict, not {type(fields).__name__}")
    if {*map(type, fields)} - {str}:  # str subclasses (e.g. StrEnum) may sort by their own rules: store plain str
        fields = {str.__str__(key) if isinstance(key, str) else key: value for key, value in fields.items()}
    return RecordSkeleton(kind, fields)


def chain_groups(
    groups: list[list[RecordSkeleton]], tail: tuple[int, str], ts: str, key: Ed25519PrivateKey, fingerprint: str
) -> ChainedGroup:
    """Number the records after `tail` (seq, leaf hex), stamp them `ts`, chain and hash them, and sign the
    group's head with `key` (named `fingerprint`)."""
    seq, prev = tail
    first_seq = seq + 1
    rows: list[tuple[Any, ...]] = []
    leaves: list[bytes] = []
    results: list[list[AppendedRecord]] = []
    for group in groups:
        appended = []
        for skeleton in group:
            seq += 1
            body = skeleton.render(seq, ts, prev)
            leaf = leaf_hash_of_bytes(body)
            prev = leaf.hex()
            rows.append((
                seq, ts, skeleton.kind, _text_or_none(skeleton.field("request_id")),
                _text_or_none(skeleton.field("actor")), body.decode(), prev, None, None, None,
            ))
            leaves.append(leaf)
            appended.append(AppendedRecord(seq, prev, ts))
        results.append(appended)
    if rows:  # the last row carries the group's head
        rows[-1] = (*rows[-1][:-3], first_seq, fingerprint, sign_head(key, seq, leaves[-1]))
    return ChainedGroup(first_seq, ts, rows, leaves, results)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
