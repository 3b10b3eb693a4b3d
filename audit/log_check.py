"""Checking the stored log itself (not an export), for review tools.

`check_stored_log` walks the database: every body against its stored leaf hash, the hash chain, every
commit-group head signature, and the Merkle root of the latest stored checkpoint against the leaves. A
review tool calls it to say, prominently, whether what it shows rests on a log that verifies.
`prove_record` gives one record's inclusion proof against the latest signed checkpoint.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.checkpoint import CheckpointError, verify_checkpoint, verify_head
from audit.format import GENESIS_PREV, leaf_hash_of_bytes, utc_timestamp
from audit.log import AuditLog
from audit.merkle import MerkleTree, ProofError, verify_inclusion
from audit.reader import AuditReader, CheckpointInfo, SigningKeyInfo, StoredRow


@dataclass(frozen=True)
class LogCheck:
    """What a full check of the stored log found."""

    size: int
    verified: bool
    problem: str | None
    checkpoint: CheckpointInfo | None
    checkpoint_verified: bool
    keys: list[SigningKeyInfo] = field(default_factory=list)
    first_ts: str = ""
    last_ts: str = ""
    checked_at: str = ""

    @property
    def verdict(self) -> str:
        return "verified" if self.verified else f"FAILED: {self.problem}"


class _Problem(Exception):
    pass


def check_stored_log(reader: AuditReader) -> LogCheck:
    """Walk the whole stored log and say whether it verifies; the first problem found is named."""
    keys = reader.signing_keys()
    size = reader.size()
    checkpoint = reader.latest_checkpoint_info(size)
    tree = MerkleTree()
    first_ts = last_ts = ""
    problem = None
    try:
        first_ts, last_ts = _walk_rows(reader, size, tree)
    except _Problem as exc:
        problem = str(exc)
    checkpoint_ok = checkpoint is not None and problem is None and _checkpoint_holds(reader, checkpoint, tree)
    if problem is None and checkpoint is not None and not checkpoint_ok:
        problem = f"the signed checkpoint of size {checkpoint.size} does not match the records (or its signature fails)"
    return LogCheck(size=size, verified=problem is None, problem=problem, checkpoint=checkpoint,
                    checkpoint_verified=checkpoint_ok, keys=keys, first_ts=first_ts, last_ts=last_ts,
                    checked_at=utc_timestamp())


def _walk_rows(reader: AuditReader, size: int, tree: MerkleTree) -> tuple[str, str]:
    """Check the first `size` rows in order, feeding their leaves to `tree`; their first and last ts."""
    public = reader.public_keys()
    first_ts = last_ts = ""
    previous, expected = GENESIS_PREV, 0
    for rows in reader.rows(0, size - 1):
        for row in rows:
            record = _check_row(row, expected, previous, public)
            previous, expected = row.leaf, expected + 1
            tree.append(bytes.fromhex(row.leaf))
            first_ts, last_ts = first_ts or record.get("ts", ""), record.get("ts", "")
    if expected != size:
        raise _Problem(f"the log ends at record {expected - 1} but should hold {size} records")
    return first_ts, last_ts


def _check_row(row: StoredRow, expected: int, previous: str, public: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """One row's seq, leaf hash, chain link and (for a group's last record) head signature."""
    if row.seq != expected:
        raise _Problem(f"record {expected} is missing (found {row.seq} next): records were deleted or reordered")
    leaf = leaf_hash_of_bytes(row.body.encode())
    if leaf.hex() != row.leaf:
        raise _Problem(f"record {row.seq} was altered: its text no longer matches its leaf hash")
    try:
        record = json.loads(row.body)
    except ValueError:
        raise _Problem(f"record {row.seq} is not valid JSON") from None
    if record.get("seq") != row.seq or record.get("prev") != previous:
        raise _Problem(f"record {row.seq} does not chain onto record {row.seq - 1}")
    if row.signature is not None:
        key = public.get(row.key_fingerprint or "")
        if key is None or not verify_head(key, row.seq, leaf, row.signature):
            raise _Problem(f"the signature over record {row.seq} does not verify")
    return record


def _checkpoint_holds(reader: AuditReader, checkpoint: CheckpointInfo, tree: MerkleTree) -> bool:
    """Whether a registered key signed the checkpoint and its root is the root of the first `size` leaves."""
    signer, _ = _checkpoint_signer(reader, checkpoint)
    return signer is not None and checkpoint.size <= tree.size and tree.root(checkpoint.size).hex() == checkpoint.root


@dataclass(frozen=True)
class RecordProof:
    """A record's RFC 6962 inclusion proof against a signed checkpoint, and whether it verifies."""

    seq: int
    record: dict[str, Any]
    leaf: str  # recomputed from the stored text
    size: int
    root: str
    path: list[str]
    key: str
    verified: bool
    problem: str | None


def prove_record(log: AuditLog, seq: int) -> RecordProof:
    """Record `seq` with its inclusion proof in the latest signed checkpoint (one is signed now if none
    covers the record yet). The leaf is hashed from the stored text, so an edited record fails."""
    reader = log.reader
    body = reader.read_bodies(seq, seq)
    if not body:
        raise KeyError(f"no audit record with seq {seq}")
    leaf = leaf_hash_of_bytes(body[0].encode())
    checkpoint = reader.latest_checkpoint_info()
    if checkpoint is None or checkpoint.size <= seq:
        log.write_checkpoint()
        checkpoint = reader.latest_checkpoint_info()
    assert checkpoint is not None
    path = reader.inclusion_proof(seq, checkpoint.size)
    signer, problem = _checkpoint_signer(reader, checkpoint)
    if signer is not None:
        try:
            verify_inclusion(leaf, seq, checkpoint.size, path, bytes.fromhex(checkpoint.root))
        except ProofError as exc:
            problem = f"the record's hash does not lead to the signed root ({exc}): the record was altered"
    try:
        record = json.loads(body[0])
    except ValueError:
        record, problem = {"seq": seq, "unreadable": body[0][:200]}, problem or "the stored record is not valid JSON"
    return RecordProof(seq, record, leaf.hex(), checkpoint.size, checkpoint.root, [h.hex() for h in path],
                       signer or "", problem is None, problem)


def _checkpoint_signer(reader: AuditReader, checkpoint: CheckpointInfo) -> tuple[str | None, str | None]:
    """The fingerprint of the registered key whose signature on the checkpoint verifies and agrees with its row."""
    for fingerprint, key in reader.public_keys().items():
        try:
            signed = verify_checkpoint(checkpoint.note, key, reader.origin)
        except (CheckpointError, ValueError):
            continue
        if signed.size == checkpoint.size and signed.root.hex() == checkpoint.root:
            return fingerprint, None
    return None, "the latest checkpoint's signature does not verify with any of the log's keys"
