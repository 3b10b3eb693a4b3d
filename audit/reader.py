"""Reading the stored log for review: records in batches, the key history, and a full check of the log.

`check_stored_log` walks the database itself (not an export): every body against its stored leaf
hash, the hash chain, every commit-group head signature, and the Merkle root of the latest stored
checkpoint against the leaves. A review tool calls it to say, prominently, whether what it shows rests
on a log that verifies.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from audit.checkpoint import CheckpointError, verify_checkpoint
from audit.merkle import MerkleTree, ProofError, verify_inclusion
from audit.models import AuditCheckpoint, AuditRecord, AuditSigningKey
from audit.record import GENESIS_PREV, verify_head
from audit.store import AuditStore, utc_timestamp

BATCH = 5_000
_records = AuditRecord.__table__  # type: ignore[attr-defined]
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_keys = AuditSigningKey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StoredRow:
    """One stored record row: its canonical JSON, leaf hash and (on a group's last record) the head."""

    seq: int
    body: str
    leaf: str
    key_fingerprint: str | None
    signature: str | None


@dataclass(frozen=True)
class SigningKeyInfo:
    fingerprint: str
    created: str
    retired: str | None


@dataclass(frozen=True)
class CheckpointInfo:
    """The latest stored signed checkpoint."""

    size: int
    root: str
    ts: str
    note: str


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


def read_rows(store: AuditStore, first_seq: int, last_seq: int | None = None, batch: int = BATCH) -> Iterator[list[StoredRow]]:
    """Stored rows first_seq..last_seq (inclusive; default: to the end) in seq order, `batch` at a time."""
    start = first_seq
    columns = (_records.c.seq, _records.c.body, _records.c.leaf, _records.c.key_fingerprint, _records.c.signature)
    while last_seq is None or start <= last_seq:
        query = select(*columns).where(_records.c.seq >= start).order_by(_records.c.seq).limit(batch)
        if last_seq is not None:
            query = query.where(_records.c.seq <= last_seq)
        with store.engine.connect() as conn:
            rows = [StoredRow(*row) for row in conn.execute(query)]
        if not rows:
            return
        yield rows
        start = rows[-1].seq + 1


def signing_keys(store: AuditStore) -> list[SigningKeyInfo]:
    """Every key that signed for the log, oldest first (a rotation retires the previous one)."""
    query = select(_keys.c.fingerprint, _keys.c.created, _keys.c.retired).order_by(_keys.c.created)
    with store.engine.connect() as conn:
        return [SigningKeyInfo(*row) for row in conn.execute(query)]


def latest_checkpoint_info(store: AuditStore, max_size: int | None = None) -> CheckpointInfo | None:
    """The stored checkpoint of the largest tree (at most `max_size` records), or None."""
    query = select(_checkpoints.c.size, _checkpoints.c.root, _checkpoints.c.ts, _checkpoints.c.note).where(
        _checkpoints.c.size > 0).order_by(_checkpoints.c.size.desc(), _checkpoints.c.id.desc()).limit(1)
    if max_size is not None:
        query = query.where(_checkpoints.c.size <= max_size)
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return CheckpointInfo(*row) if row else None


class _Problem(Exception):
    pass


def check_stored_log(store: AuditStore) -> LogCheck:
    """Walk the whole stored log and say whether it verifies; the first problem found is named."""
    keys = signing_keys(store)
    public = store.public_keys()
    size = store.size()
    checkpoint = latest_checkpoint_info(store, size)
    tree = MerkleTree()
    first_ts = last_ts = ""
    problem = None
    try:
        previous, expected = GENESIS_PREV, 0
        for rows in read_rows(store, 0, size - 1):
            for row in rows:
                record = _check_row(row, expected, previous, public)
                previous, expected = row.leaf, expected + 1
                tree.append(bytes.fromhex(row.leaf))
                first_ts, last_ts = first_ts or record.get("ts", ""), record.get("ts", "")
        if expected != size:
            raise _Problem(f"the log ends at record {expected - 1} but should hold {size} records")
    except _Problem as exc:
        problem = str(exc)
    checkpoint_ok = checkpoint is not None and problem is None and _checkpoint_holds(store, checkpoint, tree)
    if problem is None and checkpoint is not None and not checkpoint_ok:
        problem = f"the signed checkpoint of size {checkpoint.size} does not match the records (or its signature fails)"
    return LogCheck(size=size, verified=problem is None, problem=problem, checkpoint=checkpoint,
                    checkpoint_verified=checkpoint_ok, keys=keys, first_ts=first_ts, last_ts=last_ts,
                    checked_at=utc_timestamp())


def _check_row(row: StoredRow, expected: int, previous: str, public: dict[str, Any]) -> dict[str, Any]:
    """One row's seq, leaf hash, chain link and (for a group's last record) head signature."""
    if row.seq != expected:
        raise _Problem(f"record {expected} is missing (found {row.seq} next): records were deleted or reordered")
    leaf = hashlib.sha256(b"\x00" + row.body.encode()).digest()
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


def _checkpoint_holds(store: AuditStore, checkpoint: CheckpointInfo, tree: MerkleTree) -> bool:
    """Whether a registered key signed the checkpoint and its root is the root of the first `size` leaves."""
    signer, _ = _checkpoint_signer(store, checkpoint)
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


def prove_record(store: AuditStore, seq: int) -> RecordProof:
    """Record `seq` with its inclusion proof in the latest signed checkpoint (one is signed now if none
    covers the record yet). The leaf is hashed from the stored text, so an edited record fails."""
    body = store.read_bodies(seq, seq)
    if not body:
        raise KeyError(f"no audit record with seq {seq}")
    leaf = hashlib.sha256(b"\x00" + body[0].encode()).digest()
    checkpoint = latest_checkpoint_info(store)
    if checkpoint is None or checkpoint.size <= seq:
        store.write_checkpoint()
        checkpoint = latest_checkpoint_info(store)
    assert checkpoint is not None
    path = store.inclusion_proof(seq, checkpoint.size)
    signer, problem = _checkpoint_signer(store, checkpoint)
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


def _checkpoint_signer(store: AuditStore, checkpoint: CheckpointInfo) -> tuple[str | None, str | None]:
    """The fingerprint of the registered key whose signature on the checkpoint verifies and agrees with its row."""
    for fingerprint, key in store.public_keys().items():
        try:
            signed = verify_checkpoint(checkpoint.note, key, store.origin)
        except (CheckpointError, ValueError):
            continue
        if signed.size == checkpoint.size and signed.root.hex() == checkpoint.root:
            return fingerprint, None
    return None, "the latest checkpoint's signature does not verify with any of the log's keys"
