"""Reads of the audit log: records and heads, queries, the key history, checkpoints, Merkle proofs and
what an export selects. Every read goes through `AuditDatabase.reading`, so a database fault surfaces as
`AuditUnavailable`, never as a driver error.

The reader keeps the log's Merkle tree in memory (brought up to the database on demand, records of other
nodes included); the writer (`audit.log.AuditLog`) feeds it the groups it commits.
"""
from __future__ import annotations

import base64
import contextlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Subquery, func, select

from audit.errors import AuditUnavailable
from audit.format import KEY_ROTATION, format_timestamp
from audit.merkle import MerkleTree
from audit.models import CHECKPOINTS, HEAD_ROWS, RECORDS, SIGNING_KEYS
from audit.sql import AuditDatabase

MAX_FIND_LIMIT = 1000
BATCH = 5_000


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
    """A stored signed checkpoint."""

    size: int
    root: str
    ts: str
    note: str


class AuditReader:
    """Read access to one audit log; thread-safe."""

    def __init__(self, database: AuditDatabase, origin: str) -> None:
        self.database = database
        self.origin = origin
        self._tree = MerkleTree()
        self._tree_lock = threading.RLock()

    # ---- records -------------------------------------------------------------------------------

    def size(self) -> int:
        """Number of records in the log (all nodes)."""
        with self.database.reading() as conn:
            last = conn.execute(select(func.max(RECORDS.c.seq))).scalar()
        return 0 if last is None else last + 1

    def read_records(self, first_seq: int = 0, last_seq: int | None = None) -> list[dict[str, Any]]:
        """Records first_seq..last_seq (inclusive), as stored, in seq order."""
        return [json.loads(body) for body in self.read_bodies(first_seq, last_seq)]

    def read_bodies(self, first_seq: int = 0, last_seq: int | None = None) -> list[str]:
        """The canonical JSON of records first_seq..last_seq (inclusive): the text their leaf hashes cover."""
        query = select(RECORDS.c.body).where(RECORDS.c.seq >= first_seq).order_by(RECORDS.c.seq)
        if last_seq is not None:
            query = query.where(RECORDS.c.seq <= last_seq)
        with self.database.reading() as conn:
            return list(conn.execute(query).scalars())

    def rows(self, first_seq: int, last_seq: int | None = None, batch: int = BATCH) -> Iterator[list[StoredRow]]:
        """Stored rows first_seq..last_seq (inclusive; default: to the end) in seq order, `batch` at a time."""
        start = first_seq
        columns = (RECORDS.c.seq, RECORDS.c.body, RECORDS.c.leaf, RECORDS.c.key_fingerprint, RECORDS.c.signature)
        while last_seq is None or start <= last_seq:
            query = select(*columns).where(RECORDS.c.seq >= start).order_by(RECORDS.c.seq).limit(batch)
            if last_seq is not None:
                query = query.where(RECORDS.c.seq <= last_seq)
            with self.database.reading() as conn:
                rows = [StoredRow(*row) for row in conn.execute(query)]
            if not rows:
                return
            yield rows
            start = rows[-1].seq + 1

    def read_heads(self, up_to_seq: int | None = None) -> list[dict[str, Any]]:
        """Commit-group signatures {"first_seq","last_seq","leaf","key_fingerprint","signature"} in seq order."""
        query = select(
            RECORDS.c.group_first_seq.label("first_seq"), RECORDS.c.seq.label("last_seq"), RECORDS.c.leaf,
            RECORDS.c.key_fingerprint, RECORDS.c.signature,
        ).where(HEAD_ROWS).order_by(RECORDS.c.seq)
        if up_to_seq is not None:
            query = query.where(RECORDS.c.seq <= up_to_seq)
        with self.database.reading() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def find(
        self,
        kind: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        request_id: str | None = None,
        actor: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Records matching every given filter (ts in [since, until)), in seq order, one page."""
        if not 1 <= limit <= MAX_FIND_LIMIT or offset < 0:
            raise ValueError(f"limit must be 1..{MAX_FIND_LIMIT} and offset >= 0")
        query = select(RECORDS.c.body).order_by(RECORDS.c.seq).limit(limit).offset(offset)
        for column, value in ((RECORDS.c.kind, kind), (RECORDS.c.request_id, request_id), (RECORDS.c.actor, actor)):
            if value is not None:
                query = query.where(column == value)
        if since is not None or until is not None:
            groups = heads_in_time_range(since, until)
            query = query.join(groups, RECORDS.c.seq.between(groups.c.first_seq, groups.c.last_seq))
        with self.database.reading() as conn:
            return [json.loads(body) for body in conn.execute(query).scalars()]

    # ---- keys and checkpoints ------------------------------------------------------------------

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key that ever signed for this log, by fingerprint."""
        with self.database.reading() as conn:
            rows = conn.execute(select(SIGNING_KEYS.c.fingerprint, SIGNING_KEYS.c.public_key)).all()
        return {fp: Ed25519PublicKey.from_public_bytes(base64.b64decode(pk)) for fp, pk in rows}

    def signing_keys(self) -> list[SigningKeyInfo]:
        """Every key that signed for the log, oldest first (a rotation retires the previous one)."""
        query = select(SIGNING_KEYS.c.fingerprint, SIGNING_KEYS.c.created, SIGNING_KEYS.c.retired)
        with self.database.reading() as conn:
            return [SigningKeyInfo(*row) for row in conn.execute(query.order_by(SIGNING_KEYS.c.created))]

    def latest_checkpoint(self) -> str | None:
        """The stored checkpoint note of the largest tree, or None before the first checkpoint."""
        query = select(CHECKPOINTS.c.note).order_by(CHECKPOINTS.c.size.desc(), CHECKPOINTS.c.id.desc()).limit(1)
        with self.database.reading() as conn:
            return conn.execute(query).scalar()

    def latest_checkpoint_info(self, max_size: int | None = None) -> CheckpointInfo | None:
        """The stored checkpoint of the largest tree (at most `max_size` records), or None."""
        query = select(CHECKPOINTS.c.size, CHECKPOINTS.c.root, CHECKPOINTS.c.ts, CHECKPOINTS.c.note).where(
            CHECKPOINTS.c.size > 0).order_by(CHECKPOINTS.c.size.desc(), CHECKPOINTS.c.id.desc()).limit(1)
        if max_size is not None:
            query = query.where(CHECKPOINTS.c.size <= max_size)
        with self.database.reading() as conn:
            row = conn.execute(query).first()
        return CheckpointInfo(*row) if row else None

    def checkpoint_sizes(self, below: int) -> list[int]:
        """The distinct sizes (above 0) of the stored checkpoints smaller than `below`, ascending."""
        query = select(CHECKPOINTS.c.size).where(CHECKPOINTS.c.size > 0, CHECKPOINTS.c.size < below).distinct()
        with self.database.reading() as conn:
            return sorted(conn.execute(query).scalars())

    # ---- proofs --------------------------------------------------------------------------------

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 audit path of record `seq` in the tree of the first `size` records (default: all)."""
        with self.synced_tree() as tree:
            return tree.inclusion_proof(seq, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """RFC 6962 consistency proof from tree size `old` to `new` (default: current size)."""
        with self.synced_tree() as tree:
            return tree.consistency_proof(old, new)

    @contextlib.contextmanager
    def synced_tree(self) -> Iterator[MerkleTree]:
        """The log's Merkle tree brought up to the database, held (not to be changed) for the block."""
        with self._tree_lock:
            tree = self._tree
            query = select(RECORDS.c.seq, RECORDS.c.leaf).where(RECORDS.c.seq >= tree.size).order_by(RECORDS.c.seq)
            with self.database.reading() as conn:
                for rows in conn.execution_options(yield_per=10_000).execute(query).partitions():
                    for expected, (seq, _) in enumerate(rows, start=tree.size):
                        if seq != expected:
                            raise AuditUnavailable(f"audit log is corrupt: record {expected} is missing")
                    tree.extend([bytes.fromhex(leaf) for _, leaf in rows])
            yield tree

    def note_committed(self, first_seq: int, leaves: list[bytes]) -> None:
        """A group the writer committed: extend the tree now if it was up to date (else the next sync will)."""
        with self._tree_lock:
            if self._tree.size == first_seq:
                self._tree.extend(leaves)

    # ---- what an export selects ----------------------------------------------------------------

    def seq_range(self, since: datetime | None, until: datetime | None, size: int) -> tuple[int, int] | None:
        """The seqs (inclusive) of the first record at/after `since` and the last before `until` among the
        first `size`; None when there is none."""
        after, before = heads_in_time_range(since, None), heads_in_time_range(None, until)
        first_query = select(func.min(after.c.first_seq)).where(after.c.first_seq < size)
        last_query = select(func.max(before.c.last_seq)).where(before.c.first_seq < size)
        with self.database.reading() as conn:
            first, last = conn.execute(first_query).scalar(), conn.execute(last_query).scalar()
        if first is None or last is None or first > min(last, size - 1):
            return None
        return first, min(last, size - 1)

    def rotation_seqs(self, size: int) -> list[int]:
        """The seqs of the key rotation records among the first `size`, ascending."""
        query = select(RECORDS.c.seq).where(RECORDS.c.kind == KEY_ROTATION, RECORDS.c.seq < size).order_by(RECORDS.c.seq)
        with self.database.reading() as conn:
            return list(conn.execute(query).scalars())


def heads_in_time_range(since: str | datetime | None, until: str | datetime | None) -> Subquery:
    """The commit groups (first_seq, last_seq) stamped in [since, until): their records are exactly the
    records with ts in that range, found through the heads' partial ts index."""
    query = select(RECORDS.c.group_first_seq.label("first_seq"), RECORDS.c.seq.label("last_seq")).where(HEAD_ROWS)
    if since is not None:
        query = query.where(RECORDS.c.ts >= _timestamp_bound(since))
    if until is not None:
        query = query.where(RECORDS.c.ts < _timestamp_bound(until))
    return query.subquery("groups")


def _timestamp_bound(value: str | datetime) -> str:
    """A filter bound in the stored timestamp format, so string comparison orders correctly."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an RFC 3339 timestamp: {value!r}") from None
    return format_timestamp(value)
