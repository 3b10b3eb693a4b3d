"""The audit store: a signed, hash-chained, Merkle-checkpointed append-only log in SQLite or PostgreSQL.

Appenders hand records to one committer thread (group commit), which numbers and chains whatever is
waiting, signs the group's last (seq, leaf) and writes the group, head included, as one INSERT
statement: one transaction and one fsync per group. An appender returns only after that commit, so
every acknowledged record is durable; a failed group leaves nothing, so no gap. Each group is chained
onto the tail read from the database while holding the log's write lock: on SQLite a file lock beside
the database (`audit.write_lock`; the group then goes in as one autocommit INSERT, and should a writer
not holding that lock have taken the next seq, the primary key refuses the group and it is chained
again inside `BEGIN IMMEDIATE`), on PostgreSQL (several nodes, one log) an advisory transaction lock.
Either way the nodes and processes sharing a database build one gap-free, fork-free chain.

At open the log must extend the newest checkpoint stored in the database and the one kept beside the keys
(`audit.tail_anchor`), so records deleted from the tail are noticed; a commit that finds the tail shorter
than the log already was is refused too.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, Subquery, create_engine, event, func, insert, inspect, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from audit import keys, tail_anchor
from audit.checkpoint import sign_checkpoint
from audit.group_commit import CommitterClosed, GroupCommitter
from audit.merkle import MerkleTree
from audit.models import AUDIT_TABLES, HEAD_ROWS, AuditCheckpoint, AuditRecord, AuditSigningKey
from audit.record import GENESIS_PREV, key_fingerprint, public_key_bytes, sign_head
from audit.skeleton import RecordSkeleton
from audit.tail_anchor import LogTailMismatch, TailWitnesses
from audit.write_lock import LogWriteLock

logger = logging.getLogger(__name__)

MAX_FIND_LIMIT = 1000
SQLITE_BUSY_TIMEOUT_S = 5.0
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"appliance-audit-log").digest()[:8], "big", signed=True)

_records = AuditRecord.__table__  # type: ignore[attr-defined]
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_signing_keys = AuditSigningKey.__table__  # type: ignore[attr-defined]
_PG_WRITE_LOCK = text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=_PG_LOCK_KEY)
RECORD_COLUMNS = (
    "seq", "ts", "kind", "request_id", "actor", "body", "leaf", "group_first_seq", "key_fingerprint", "signature",
)


class GroupStatements:
    """A commit group's statements in the driver's own parameter style, run on the raw DBAPI cursor.

    A group's rows go in as one multi-row INSERT: one call into the driver, so the committer gives up and
    retakes the GIL once per group rather than once per row (each retake can wait for appenders busy in
    Python), and in autocommit mode that one statement is the whole transaction.
    """

    MAX_ROWS_PER_STATEMENT = 3000  # 30,000 parameters: within SQLite's (32,766) and PostgreSQL's (65,535) limits

    def __init__(self, paramstyle: str) -> None:
        mark = "?" if paramstyle == "qmark" else "%s"
        # The tail (NULLs on an empty log) and when our key was retired (NULL: it was not), in one round trip.
        self.tail_and_key = (
            f"SELECT t.seq, t.leaf, (SELECT retired FROM {_signing_keys.name} WHERE fingerprint = {mark}) "
            f"FROM (SELECT 1 AS one) AS o LEFT JOIN "
            f"(SELECT seq, leaf FROM {_records.name} ORDER BY seq DESC LIMIT 1) AS t ON 1 = 1"
        )
        insert_prefix = f"INSERT INTO {_records.name} ({', '.join(RECORD_COLUMNS)}) VALUES "
        row = f"({', '.join([mark] * len(RECORD_COLUMNS))})"
        # By row count; the driver keeps the recent ones prepared.
        self._insert_statement = functools.lru_cache(maxsize=64)(lambda count: insert_prefix + ", ".join([row] * count))

    def insert_records(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert `rows` (values in RECORD_COLUMNS order) with `cursor`, a DBAPI cursor."""
        for start in range(0, len(rows), self.MAX_ROWS_PER_STATEMENT):
            chunk = rows[start:start + self.MAX_ROWS_PER_STATEMENT]
            cursor.execute(self._insert_statement(len(chunk)), [value for row in chunk for value in row])


class AuditUnavailable(RuntimeError):
    """The audit store cannot durably write (or read) right now; callers must refuse the request."""


class AppendedRecord(NamedTuple):
    """Where a durable record landed."""

    seq: int
    leaf_hash: str
    ts: str


Fields = dict[str, Any]


class _ChainedGroup(NamedTuple):
    """A commit group numbered, chained, hashed and signed, ready to insert."""

    first_seq: int
    ts: str
    rows: list[tuple[Any, ...]]  # values in RECORD_COLUMNS order
    leaves: list[bytes]
    results: list[list[AppendedRecord]]  # per submission


def utc_timestamp() -> str:
    """Now as RFC 3339 UTC with microseconds, e.g. 2025-01-31T12:00:00.123456Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditStore:
    """Signed audit log over one database; thread-safe. Create with `AuditStore.open`."""

    def __init__(self, engine: Engine, key_dir: Path, origin: str, checkpoint_every: int, checkpoint_seconds: float):
        self.engine = engine
        self.key_dir = key_dir
        self.origin = origin
        self.witnesses = TailWitnesses(key_dir, engine.url.render_as_string(hide_password=False))
        self._writer = engine.execution_options(audit_write=True)
        self._sql = GroupStatements(engine.dialect.paramstyle)
        self._driver_errors: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._tail_taken: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError
        self._is_postgres = engine.dialect.name == "postgresql"
        # SQLite: the file lock serialising the log's writers (None for an in-memory database: one process),
        # and the connection the committer's autocommit statements go through (committer thread only).
        self._write_lock = sqlite_write_lock(engine)
        self._autocommit: Any = None
        self._hmac_key = keys.load_hmac_key(key_dir)
        self._use_key(keys.load_signing_key(key_dir))
        self._checkpoint_every = checkpoint_every
        self._checkpoint_seconds = checkpoint_seconds
        self._tree = MerkleTree()
        self._tree_lock = threading.RLock()
        self._committed_size = 0
        self._checkpoint_size = 0
        self._checkpoint_time = time.monotonic()
        self._committer: GroupCommitter | None = None
        self.tail_settlement: dict[str, Any] | None = None  # the audit_integrity record written at open, if any

    @classmethod
    def open(
        cls,
        url: str,
        key_dir: Path,
        *,
        origin: str = "appliance.local/audit",
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 60,
        accept_loss: bool = False,
    ) -> AuditStore:
        """Open (creating tables if needed) the log at `url` with the keys in `key_dir`.

        LogTailMismatch when the log does not extend a checkpoint it signed earlier; `accept_loss` opens it
        anyway and records the loss (an `audit_integrity` record), for when no backup holds the lost records.
        """
        if checkpoint_every < 1 or checkpoint_seconds <= 0:
            raise ValueError("checkpoint_every must be >= 1 and checkpoint_seconds > 0")
        store = cls(make_engine(url), Path(key_dir), origin, checkpoint_every, checkpoint_seconds)
        try:
            lost = store._prepare(accept_loss)
        except BaseException:
            store.engine.dispose()
            raise
        store._committer = GroupCommitter(
            store._commit_groups, name="audit-committer", tick=store._tick, tick_seconds=min(checkpoint_seconds, 5.0)
        )
        try:
            store._settle_tail(lost)
        except BaseException:
            store.close()
            raise
        return store

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- writing -------------------------------------------------------------------------------

    def append(self, kind: str, fields: Fields) -> AppendedRecord:
        """Append one record; returns once it is durable. ValueError for bad fields."""
        return self._submit([record_skeleton(kind, fields)])[0]

    def append_many(self, items: list[tuple[str, Fields]]) -> list[AppendedRecord]:
        """Append several records atomically (one group, consecutive seqs); returns once durable."""
        skeletons = [record_skeleton(kind, fields) for kind, fields in items]
        return self._submit(skeletons) if skeletons else []

    async def append_async(self, kind: str, fields: Fields) -> AppendedRecord:
        """`append` for asyncio code: awaits durability without tying up a thread."""
        return (await self._submit_future([record_skeleton(kind, fields)]))[0]

    async def append_many_async(self, items: list[tuple[str, Fields]]) -> list[AppendedRecord]:
        """`append_many` for asyncio code."""
        skeletons = [record_skeleton(kind, fields) for kind, fields in items]
        return (await self._submit_future(skeletons)) if skeletons else []

    def digest(self, text_value: str) -> str:
        """HMAC-SHA256 (hex) of `text_value` under the store's HMAC key: what records hold instead of text."""
        return hmac.new(self._hmac_key, text_value.encode(), hashlib.sha256).hexdigest()

    def rotate_key(self) -> str:
        """Switch to a new signing key, announced by a `key_rotation` record signed with the old one.

        Returns the new key's fingerprint.
        """
        new_key = keys.stage_signing_key(self.key_dir)
        new_fingerprint = key_fingerprint(new_key.public_key())
        try:
            self._run_exclusive(functools.partial(self._commit_rotation, new_key))
        except Exception:
            committed = self._key_registered(new_fingerprint)
            if committed is False:
                keys.discard_staged_key(self.key_dir)
            if not committed:
                raise
            self._use_key(new_key)  # the commit went through even though it reported an error
        keys.promote_staged_key(self.key_dir)
        return new_fingerprint

    def write_checkpoint(self) -> str:
        """Sign and store a checkpoint note for the log's current size; returns the note."""
        with self._tree_lock:
            tree = self._sync_tree()
            size, root = tree.size, tree.root()
        note = sign_checkpoint(self.origin, size, root, self._signing_key, self.origin)
        with self._db_errors(), self.engine.begin() as conn:
            conn.execute(insert(_checkpoints).values(size=size, root=root.hex(), note=note, ts=utc_timestamp()))
        self._keep_checkpoint(note)
        self._checkpoint_size, self._checkpoint_time = size, time.monotonic()
        return note

    def close(self) -> None:
        """Commit what is queued, write a final checkpoint if the log grew, release the database."""
        if self._committer is None:
            return
        committer, self._committer = self._committer, None
        committer.close()
        self._release_autocommit_connection()
        if self._write_lock is not None:
            self._write_lock.close()
        try:
            if self.size() > self._checkpoint_size:
                self.write_checkpoint()
        finally:
            self.engine.dispose()

    # ---- reading -------------------------------------------------------------------------------

    def writable(self) -> bool:
        """Whether the log accepts a write right now (a probe insert, rolled back): for readiness checks."""
        if self._committer is None:
            return False
        try:
            with self._write_transaction() as conn:
                probe = conn.begin_nested()
                conn.execute(insert(_checkpoints).values(size=-1, root="", note="", ts=""))
                probe.rollback()
        except AuditUnavailable:
            return False
        return True

    @property
    def signing_fingerprint(self) -> str:
        """Fingerprint of the key that signs new heads and checkpoints."""
        return self._fingerprint

    def size(self) -> int:
        """Number of records in the log (all nodes)."""
        with self._db_errors(), self.engine.connect() as conn:
            last = conn.execute(select(func.max(_records.c.seq))).scalar()
        return 0 if last is None else last + 1

    def read_records(self, first_seq: int = 0, last_seq: int | None = None) -> list[dict[str, Any]]:
        """Records first_seq..last_seq (inclusive), as stored, in seq order."""
        return [json.loads(body) for body in self.read_bodies(first_seq, last_seq)]

    def read_bodies(self, first_seq: int = 0, last_seq: int | None = None) -> list[str]:
        """The canonical JSON of records first_seq..last_seq (inclusive): the text their leaf hashes cover."""
        query = select(_records.c.body).where(_records.c.seq >= first_seq).order_by(_records.c.seq)
        if last_seq is not None:
            query = query.where(_records.c.seq <= last_seq)
        with self._db_errors(), self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def read_heads(self, up_to_seq: int | None = None) -> list[dict[str, Any]]:
        """Commit-group signatures {"first_seq","last_seq","leaf","key_fingerprint","signature"} in seq order."""
        query = select(
            _records.c.group_first_seq.label("first_seq"), _records.c.seq.label("last_seq"), _records.c.leaf,
            _records.c.key_fingerprint, _records.c.signature,
        ).where(HEAD_ROWS).order_by(_records.c.seq)
        if up_to_seq is not None:
            query = query.where(_records.c.seq <= up_to_seq)
        with self._db_errors(), self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key that ever signed for this log, by fingerprint."""
        with self._db_errors(), self.engine.connect() as conn:
            rows = conn.execute(select(_signing_keys.c.fingerprint, _signing_keys.c.public_key)).all()
        return {fp: Ed25519PublicKey.from_public_bytes(base64.b64decode(pk)) for fp, pk in rows}

    def latest_checkpoint(self) -> str | None:
        """The stored checkpoint note of the largest tree, or None before the first checkpoint."""
        query = select(_checkpoints.c.note).order_by(_checkpoints.c.size.desc(), _checkpoints.c.id.desc()).limit(1)
        with self._db_errors(), self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 audit path of record `seq` in the tree of the first `size` records (default: all)."""
        with self._tree_lock:
            return self._sync_tree().inclusion_proof(seq, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """RFC 6962 consistency proof from tree size `old` to `new` (default: current size)."""
        with self._tree_lock:
            return self._sync_tree().consistency_proof(old, new)

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
        query = select(_records.c.body).order_by(_records.c.seq).limit(limit).offset(offset)
        for column, value in ((_records.c.kind, kind), (_records.c.request_id, request_id), (_records.c.actor, actor)):
            if value is not None:
                query = query.where(column == value)
        if since is not None or until is not None:
            groups = heads_in_time_range(since, until)
            query = query.join(groups, _records.c.seq.between(groups.c.first_seq, groups.c.last_seq))
        with self._db_errors(), self.engine.connect() as conn:
            return [json.loads(body) for body in conn.execute(query).scalars()]

    # ---- internals -----------------------------------------------------------------------------

    def _use_key(self, key: Ed25519PrivateKey) -> None:
        self._signing_key, self._fingerprint = key, key_fingerprint(key.public_key())

    def _submit(self, skeletons: list[RecordSkeleton]) -> list[AppendedRecord]:
        try:
            return self._open_committer().submit(skeletons)
        except CommitterClosed:
            raise AuditUnavailable("the audit store is closed") from None

    def _submit_future(self, skeletons: list[RecordSkeleton]) -> asyncio.Future[list[AppendedRecord]]:
        try:
            return self._open_committer().submit_future(skeletons)
        except CommitterClosed:
            raise AuditUnavailable("the audit store is closed") from None

    def _run_exclusive(self, fn: Callable[[], None]) -> None:
        try:
            self._open_committer().run_exclusive(fn)
        except CommitterClosed:
            raise AuditUnavailable("the audit store is closed") from None

    def _open_committer(self) -> GroupCommitter:
        committer = self._committer
        if committer is None:
            raise AuditUnavailable("the audit store is closed")
        return committer

    @contextlib.contextmanager
    def _db_errors(self) -> Iterator[None]:
        try:
            yield
        except (SQLAlchemyError, self._driver_errors) as exc:
            raise _unavailable(exc) from None

    @contextlib.contextmanager
    def _write_transaction(self) -> Iterator[Connection]:
        """A transaction holding the log's write lock (serialises writers across processes)."""
        with self._db_errors(), self._writer.begin() as conn:
            if self._is_postgres:
                conn.execute(_PG_WRITE_LOCK)
            yield conn

    def _prepare(self, accept_loss: bool) -> list[str]:
        """Create tables, settle an unfinished key rotation, register the key, load the tree, check its tail.

        Returns the tail mismatches `accept_loss` let through."""
        staged = keys.load_staged_signing_key(self.key_dir)
        with self._write_transaction() as conn:
            SQLModel.metadata.create_all(conn, tables=AUDIT_TABLES)
            missing = set(RECORD_COLUMNS) - {column["name"] for column in inspect(conn).get_columns(_records.name)}
            if missing:
                raise AuditUnavailable(
                    f"the audit store at {self.engine.url.render_as_string()} has an older layout (no column "
                    f"{', '.join(sorted(missing))}); export and verify it with the version that wrote it, then start a new store"
                )
            registered = {fp: retired for fp, retired
                          in conn.execute(select(_signing_keys.c.fingerprint, _signing_keys.c.retired))}
            if staged is not None and key_fingerprint(staged.public_key()) in registered:
                self._use_key(staged)
            fingerprint = self.signing_fingerprint
            if registered.get(fingerprint):
                raise keys.KeyFileError(
                    f"signing key {fingerprint} was retired at {registered[fingerprint]}; use the current key")
            if fingerprint not in registered:
                conn.execute(insert(_signing_keys).values(**_key_row(self._signing_key.public_key())))
            latest = conn.execute(select(func.max(_checkpoints.c.size))).scalar()
        if staged is not None:
            (keys.promote_staged_key if self._signing_key is staged else keys.discard_staged_key)(self.key_dir)
        self._checkpoint_size = latest or 0
        with self._tree_lock:
            tree = self._sync_tree()
            self._committed_size = tree.size
            return self._check_tail(tree, accept_loss)

    def _check_tail(self, tree: MerkleTree, accept_loss: bool) -> list[str]:
        """The log must extend the database's newest checkpoint, the checkpoint kept beside the keys and the
        size an unsettled incident names. A mismatch is noted as an incident and refused (LogTailMismatch)
        unless `accept_loss`; returns the mismatches let through. The database's newest checkpoint, once
        verified, becomes the kept one if it is larger (another node may have signed it)."""
        keys = [self._signing_key.public_key(), *self.public_keys().values()]
        stored = self.latest_checkpoint()
        checkpoints = {
            "the database's newest checkpoint": stored,
            f"the checkpoint kept at {self.witnesses.kept_path}": self.witnesses.kept(),
        }
        mismatches: list[LogTailMismatch] = []
        for where, note in checkpoints.items():
            try:
                if note is not None:
                    tail_anchor.check_extends(tree, note, where, keys, self.origin)
            except LogTailMismatch as exc:
                mismatches.append(exc)
        incident = self.witnesses.pending_incident()
        if incident is not None and incident.expected_size > tree.size:
            mismatches.append(LogTailMismatch(
                f"audit log truncated: it holds {tree.size} records but held {incident.expected_size} when "
                f"this was found ({incident.detected_at}); {tail_anchor.REPAIR_HINT}", incident.expected_size))
        if mismatches and not accept_loss:
            worst = max(mismatches, key=lambda mismatch: mismatch.expected_size)
            self.witnesses.note_incident(str(worst), worst.expected_size)
            raise worst
        if stored is not None and not mismatches:
            self._keep_checkpoint(stored)
        return [str(mismatch) for mismatch in mismatches]

    def _settle_tail(self, lost: list[str]) -> None:
        """Record how a tail mismatch was settled: the database restored, or the loss accepted (`lost`)."""
        incident = self.witnesses.pending_incident()
        if not lost and incident is None:
            return
        fields: dict[str, Any] = {"log_size": self.size()}
        if incident is not None:
            fields.update(detected_at=incident.detected_at, reason=incident.reason, expected_size=incident.expected_size)
        if lost:
            fields.update(event="loss_accepted", mismatches=lost, void_checkpoints=self._void_checkpoints())
        else:
            fields["event"] = "restored"
        self.tail_settlement = {**fields, "seq": self.append("audit_integrity", fields).seq}
        note = self.write_checkpoint()
        if lost:
            self._keep_checkpoint(note, even_if_smaller=True)
        self.witnesses.settle_incident()

    def _void_checkpoints(self) -> list[str]:
        """Delete the stored checkpoints the log no longer extends (after an accepted loss); their notes."""
        keys = [self._signing_key.public_key(), *self.public_keys().values()]
        with self._tree_lock, self._write_transaction() as conn:
            tree = self._sync_tree()
            rows = conn.execute(select(_checkpoints.c.id, _checkpoints.c.note)).all()
            void = []
            for row in rows:
                try:
                    tail_anchor.check_extends(tree, row.note, "a stored checkpoint", keys, self.origin)
                except LogTailMismatch:
                    void.append(row)
            if void:
                conn.execute(_checkpoints.delete().where(_checkpoints.c.id.in_([row.id for row in void])))
        return [row.note for row in void]

    def _keep_checkpoint(self, note: str, even_if_smaller: bool = False) -> None:
        try:
            self.witnesses.keep(note, even_if_smaller=even_if_smaller)
        except OSError as exc:
            raise AuditUnavailable(f"audit store cannot keep its checkpoint in {self.key_dir}: {exc.strerror}") from None

    def _refuse_short_tail(self, tail_size: int) -> None:
        """A commit found fewer records than the log already held: records were deleted under us."""
        known = self._committed_size
        if tail_size < known:
            reason = (f"audit log truncated while open: the database holds {tail_size} records but already held "
                      f"{known}; {tail_anchor.REPAIR_HINT}")
            with contextlib.suppress(OSError, LogTailMismatch):
                self.witnesses.note_incident(reason, known)
            raise AuditUnavailable(reason)

    def _sync_tree(self) -> MerkleTree:
        """Bring the in-memory tree up to the database (records of other nodes too); hold _tree_lock."""
        tree = self._tree
        query = select(_records.c.seq, _records.c.leaf).where(_records.c.seq >= tree.size).order_by(_records.c.seq)
        with self._db_errors(), self.engine.connect() as conn:
            for rows in conn.execution_options(yield_per=10_000).execute(query).partitions():
                for expected, (seq, _) in enumerate(rows, start=tree.size):
                    if seq != expected:
                        raise AuditUnavailable(f"audit log is corrupt: record {expected} is missing")
                tree.extend([bytes.fromhex(leaf) for _, leaf in rows])
        return tree

    @contextlib.contextmanager
    def _writers_serialised(self) -> Iterator[None]:
        """Hold the SQLite log's file lock (no-op on PostgreSQL, whose transactions take an advisory lock)."""
        if self._write_lock is None:
            yield
            return
        try:
            self._write_lock.acquire()
        except OSError as exc:
            raise AuditUnavailable(f"audit store unavailable: cannot lock {self._write_lock.path}: {exc.strerror}") from None
        try:
            yield
        finally:
            self._write_lock.release()

    def _commit_groups(self, groups: list[list[RecordSkeleton]]) -> list[list[AppendedRecord]]:
        """Commit the groups as one commit group (runs on the committer thread)."""
        one_statement = sum(map(len, groups)) <= GroupStatements.MAX_ROWS_PER_STATEMENT
        with self._writers_serialised():
            if self._write_lock is not None and one_statement:
                committed = self._commit_autocommit(groups)
                if committed is not None:
                    return committed
            return self._commit_locked(groups)

    def _commit_autocommit(self, groups: list[list[RecordSkeleton]]) -> list[list[AppendedRecord]] | None:
        """SQLite, holding the file lock: read the tail, chain onto it, INSERT the group as one autocommit
        statement. None when the locked path must do it: our key was retired by another process, or a
        writer not holding the file lock took the next seq."""
        try:
            if self._autocommit is None:
                self._autocommit = self.engine.raw_connection()  # SQLite connections are set to autocommit
            cursor = self._autocommit.cursor()
            cursor.execute(self._sql.tail_and_key, (self._fingerprint,))
            ((tail_seq, tail_leaf, retired),) = cursor.fetchall()  # all: the read transaction ends here
            if retired is not None:
                return None
            chained = self._chain(groups, (-1, GENESIS_PREV) if tail_seq is None else (tail_seq, tail_leaf))
            self._sql.insert_records(cursor, chained.rows)
        except self._tail_taken:
            return None
        except (SQLAlchemyError, self._driver_errors) as exc:
            self._release_autocommit_connection(broken=True)
            raise _unavailable(exc) from None
        return self._committed(chained)

    def _release_autocommit_connection(self, broken: bool = False) -> None:
        connection, self._autocommit = self._autocommit, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError, self._driver_errors):
                if broken:
                    connection.invalidate()
                connection.close()

    def _commit_locked(
        self, groups: list[list[RecordSkeleton]], extra: Callable[[Connection, str], None] | None = None
    ) -> list[list[AppendedRecord]]:
        """Commit the groups in a transaction holding the database's write lock, chained onto its tail."""
        with self._write_transaction() as conn:
            cursor = conn.connection.cursor()
            cursor.execute(self._sql.tail_and_key, (self._fingerprint,))
            ((tail_seq, tail_leaf, retired),) = cursor.fetchall()  # one row, always
            if retired is not None:
                self._adopt_rotated_key(conn)
            chained = self._chain(groups, (-1, GENESIS_PREV) if tail_seq is None else (tail_seq, tail_leaf))
            if chained.rows:
                self._sql.insert_records(cursor, chained.rows)
            if extra is not None:
                extra(conn, chained.ts)
        return self._committed(chained)

    def _chain(self, groups: list[list[RecordSkeleton]], tail: tuple[int, str]) -> _ChainedGroup:
        """Number the records after `tail` (seq, leaf hex), chain and hash them, sign the group's head."""
        sha256 = hashlib.sha256
        seq, prev = tail
        self._refuse_short_tail(seq + 1)
        first_seq, ts = seq + 1, utc_timestamp()
        rows: list[tuple[Any, ...]] = []
        leaves: list[bytes] = []
        results: list[list[AppendedRecord]] = []
        for group in groups:
            appended = []
            for skeleton in group:
                seq += 1
                body = skeleton.render(seq, ts, prev)
                leaf = sha256(b"\x00" + body).digest()  # = audit.record.leaf_hash(record), without re-serialising
                prev = leaf.hex()
                rows.append((
                    seq, ts, skeleton.kind, _text_or_none(skeleton.field("request_id")),
                    _text_or_none(skeleton.field("actor")), body.decode(), prev, None, None, None,
                ))
                leaves.append(leaf)
                appended.append(AppendedRecord(seq, prev, ts))
            results.append(appended)
        if rows:  # the last row carries the group's head
            rows[-1] = (*rows[-1][:-3], first_seq, self._fingerprint, sign_head(self._signing_key, seq, leaves[-1]))
        return _ChainedGroup(first_seq, ts, rows, leaves, results)

    def _committed(self, chained: _ChainedGroup) -> list[list[AppendedRecord]]:
        """Note a durable group: the size, the in-memory tree (if it was up to date)."""
        if chained.rows:
            self._committed_size = chained.first_seq + len(chained.rows)
            with self._tree_lock:
                if self._tree.size == chained.first_seq:
                    self._tree.extend(chained.leaves)
        return chained.results

    def _commit_rotation(self, new_key: Ed25519PrivateKey) -> None:
        """Append the key_rotation record signed with the current key, register the new key, switch."""
        new_public = new_key.public_key()
        old_fingerprint = self.signing_fingerprint
        fields = {
            "new_key_fingerprint": key_fingerprint(new_public),
            "new_public_key": base64.b64encode(public_key_bytes(new_public)).decode(),
            "old_key_fingerprint": old_fingerprint,
        }

        def switch_keys(conn: Connection, ts: str) -> None:
            conn.execute(insert(_signing_keys).values(**_key_row(new_public)))
            conn.execute(update(_signing_keys).where(_signing_keys.c.fingerprint == old_fingerprint).values(retired=ts))

        with self._writers_serialised():
            self._commit_locked([[record_skeleton("key_rotation", fields)]], extra=switch_keys)
        self._use_key(new_key)

    def _adopt_rotated_key(self, conn: Connection) -> None:
        """Our key was retired by a rotation on another node: take the new key from the shared key dir."""
        key = keys.load_signing_key(self.key_dir)
        fingerprint = key_fingerprint(key.public_key())
        row = conn.execute(select(_signing_keys.c.retired).where(_signing_keys.c.fingerprint == fingerprint)).first()
        if row is None or row.retired is not None:
            raise AuditUnavailable(
                f"signing key {self._fingerprint} was retired by another node and {self.key_dir} holds no current key")
        self._use_key(key)

    def _key_registered(self, fingerprint: str) -> bool | None:
        """Whether `fingerprint` is in the key table; None when the database cannot tell."""
        try:
            with self.engine.connect() as conn:
                query = select(_signing_keys.c.fingerprint).where(_signing_keys.c.fingerprint == fingerprint)
                return conn.execute(query).first() is not None
        except SQLAlchemyError:
            return None

    def _tick(self) -> None:
        """Checkpoint every `checkpoint_every` records or `checkpoint_seconds` (committer thread)."""
        grown = self._committed_size - self._checkpoint_size
        if grown <= 0:
            return
        if grown >= self._checkpoint_every or time.monotonic() - self._checkpoint_time >= self._checkpoint_seconds:
            try:
                self.write_checkpoint()
            except AuditUnavailable as exc:
                logger.warning("audit checkpoint postponed: %s", exc)


def record_skeleton(kind: str, fields: Fields) -> RecordSkeleton:
    """Check and serialise a record (on the appender's thread); ValueError says what is wrong with it."""
    if not isinstance(kind, str) or not kind:
        raise ValueError("audit record kind must be a non-empty string")
    if not isinstance(fields, dict):
        raise ValueError(f"audit record fields must be a dict, not {type(fields).__name__}")
    if {*map(type, fields)} - {str}:  # str subclasses (e.g. StrEnum) may sort by their own rules: store plain str
        fields = {str.__str__(key) if isinstance(key, str) else key: value for key, value in fields.items()}
    return RecordSkeleton(kind, fields)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _key_row(public_key: Ed25519PublicKey) -> dict[str, Any]:
    return {
        "fingerprint": key_fingerprint(public_key),
        "public_key": base64.b64encode(public_key_bytes(public_key)).decode(),
        "created": utc_timestamp(),
        "retired": None,
    }


def heads_in_time_range(since: str | datetime | None, until: str | datetime | None) -> Subquery:
    """The commit groups (first_seq, last_seq) stamped in [since, until): their records are exactly the
    records with ts in that range, found through the heads' partial ts index."""
    query = select(_records.c.group_first_seq.label("first_seq"), _records.c.seq.label("last_seq")).where(HEAD_ROWS)
    if since is not None:
        query = query.where(_records.c.ts >= _timestamp_bound(since))
    if until is not None:
        query = query.where(_records.c.ts < _timestamp_bound(until))
    return query.subquery("groups")


def _timestamp_bound(value: str | datetime) -> str:
    """A filter bound in the stored timestamp format, so string comparison orders correctly."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an RFC 3339 timestamp: {value!r}") from None
    if value.tzinfo is None:
        raise ValueError("timestamp bounds must carry a time zone")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unavailable(exc: Exception) -> AuditUnavailable:
    """An AuditUnavailable naming the database's reason (first line only: no SQL, no parameters)."""
    cause = getattr(exc, "orig", None) or exc
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return AuditUnavailable(f"audit store unavailable: {type(cause).__name__}: {reason}")


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL, synchronous=FULL, secure_delete and BEGIN IMMEDIATE for writers."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def sqlite_write_lock(engine: Engine) -> LogWriteLock | None:
    """The file lock serialising writers of the SQLite file behind `engine`; None for PostgreSQL or an
    in-memory database (one process). Knows plain paths and `file:` URIs (`?uri=true`)."""
    url = engine.url
    database = url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    if url.query.get("uri") == "true" and database.startswith("file:"):
        uri = urllib.parse.urlsplit(database)
        if not uri.path or uri.path == ":memory:" or urllib.parse.parse_qs(uri.query).get("mode") == ["memory"]:
            return None
        return LogWriteLock(Path(urllib.parse.unquote(uri.path)))
    return LogWriteLock(Path(database))


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _begin_sqlite)
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _begin_sqlite(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("audit_write") else "BEGIN")
