"""The audit log's write path: a signed, hash-chained, Merkle-checkpointed append-only log in SQLite or
PostgreSQL. Reads go through `AuditLog.reader` (`audit.reader.AuditReader`).

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
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, func, insert, inspect, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from audit import keys, tail_anchor
from audit.chain import AppendedRecord, ChainedGroup, Fields, chain_groups, record_skeleton
from audit.checkpoint import key_fingerprint, public_key_bytes, sign_checkpoint
from audit.errors import AuditUnavailable
from audit.format import AUDIT_INTEGRITY, GENESIS_PREV, KEY_ROTATION, utc_timestamp
from audit.group_commit import CommitterClosed, GroupCommitter
from audit.merkle import MerkleTree
from audit.models import AUDIT_TABLES, CHECKPOINTS, RECORDS, SIGNING_KEYS
from audit.reader import AuditReader
from audit.skeleton import RecordSkeleton
from audit.sql import RECORD_COLUMNS, AuditDatabase, GroupStatements, unavailable
from audit.tail_anchor import LogTailMismatch, TailWitnesses

logger = logging.getLogger(__name__)

CLOSED = "the audit store is closed"
MIN_FREE_BYTES = 1 << 20  # below this, the next commit groups (and their WAL frames) may not fit


class AuditLog:
    """Signed audit log over one database; thread-safe. Create with `AuditLog.open`."""

    def __init__(self, database: AuditDatabase, key_dir: Path, origin: str, checkpoint_every: int,
                 checkpoint_seconds: float) -> None:
        self.database = database
        self.reader = AuditReader(database, origin)
        self.key_dir = key_dir
        self.origin = origin
        self.witnesses = TailWitnesses(key_dir, database.url)
        self._autocommit: Any = None  # the connection of the committer's autocommit statements (SQLite)
        self._hmac_key = keys.load_hmac_key(key_dir)
        self._use_key(keys.load_signing_key(key_dir))
        self._checkpoint_every = checkpoint_every
        self._checkpoint_seconds = checkpoint_seconds
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
    ) -> AuditLog:
        """Open (creating tables if needed) the log at `url` with the keys in `key_dir`.

        LogTailMismatch when the log does not extend a checkpoint it signed earlier; `accept_loss` opens it
        anyway and records the loss (an `audit_integrity` record), for when no backup holds the lost records.
        """
        if checkpoint_every < 1 or checkpoint_seconds <= 0:
            raise ValueError("checkpoint_every must be >= 1 and checkpoint_seconds > 0")
        log = cls(AuditDatabase(url), Path(key_dir), origin, checkpoint_every, checkpoint_seconds)
        try:
            lost = log._prepare(accept_loss)
        except BaseException:
            log.database.dispose()
            raise
        log._committer = GroupCommitter(
            log._commit_groups, name="audit-committer", tick=log._tick, tick_seconds=min(checkpoint_seconds, 5.0)
        )
        try:
            log._settle_tail(lost)
        except BaseException:
            log.close()
            raise
        return log

    def __enter__(self) -> AuditLog:
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
            with self._open_committer() as committer:
                committer.run_exclusive(functools.partial(self._commit_rotation, new_key))
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
        with self.reader.synced_tree() as tree:
            size, root = tree.size, tree.root()
        note = sign_checkpoint(self.origin, size, root, self._signing_key, self.origin)
        with self.database.transaction() as conn:
            conn.execute(insert(CHECKPOINTS).values(size=size, root=root.hex(), note=note, ts=utc_timestamp()))
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
        if self.database.write_lock is not None:
            self.database.write_lock.close()
        try:
            if self.reader.size() > self._checkpoint_size:
                self.write_checkpoint()
        finally:
            self.database.dispose()

    def writable(self) -> bool:
        """Whether the log accepts a write right now (a probe insert, rolled back; for a SQLite file also at
        least MIN_FREE_BYTES free beside it, as a rolled-back probe never reaches a full disk): for
        readiness checks."""
        if self._committer is None:
            return False
        lock = self.database.write_lock
        try:
            if lock is not None and shutil.disk_usage(lock.path.parent).free < MIN_FREE_BYTES:
                return False
            with self.database.write_transaction() as conn:
                probe = conn.begin_nested()
                conn.execute(insert(CHECKPOINTS).values(size=-1, root="", note="", ts=""))
                probe.rollback()
        except (AuditUnavailable, OSError):
            return False
        return True

    @property
    def signing_fingerprint(self) -> str:
        """Fingerprint of the key that signs new heads and checkpoints."""
        return self._fingerprint

    # ---- the committer -------------------------------------------------------------------------

    def _use_key(self, key: Ed25519PrivateKey) -> None:
        self._signing_key, self._fingerprint = key, key_fingerprint(key.public_key())

    @contextlib.contextmanager
    def _open_committer(self) -> Iterator[GroupCommitter]:
        """The committer, for one submission; a closed store (or committer) is AuditUnavailable."""
        committer = self._committer
        if committer is None:
            raise AuditUnavailable(CLOSED)
        try:
            yield committer
        except CommitterClosed:
            raise AuditUnavailable(CLOSED) from None

    def _submit(self, skeletons: list[RecordSkeleton]) -> list[AppendedRecord]:
        with self._open_committer() as committer:
            return committer.submit(skeletons)

    def _submit_future(self, skeletons: list[RecordSkeleton]) -> asyncio.Future[list[AppendedRecord]]:
        with self._open_committer() as committer:
            return committer.submit_future(skeletons)

    @contextlib.contextmanager
    def _writers_serialised(self) -> Iterator[None]:
        """Hold the SQLite log's file lock (no-op on PostgreSQL, whose transactions take an advisory lock)."""
        lock = self.database.write_lock
        if lock is None:
            yield
            return
        try:
            lock.acquire()
        except OSError as exc:
            raise AuditUnavailable(f"audit store unavailable: cannot lock {lock.path}: {exc.strerror}") from None
        try:
            yield
        finally:
            lock.release()

    def _commit_groups(self, groups: list[list[RecordSkeleton]]) -> list[list[AppendedRecord]]:
        """Commit the groups as one commit group (runs on the committer thread)."""
        one_statement = sum(map(len, groups)) <= GroupStatements.MAX_ROWS_PER_STATEMENT
        with self._writers_serialised():
            if self.database.write_lock is not None and one_statement:
                committed = self._commit_autocommit(groups)
                if committed is not None:
                    return committed
            return self._commit_locked(groups)

    def _commit_autocommit(self, groups: list[list[RecordSkeleton]]) -> list[list[AppendedRecord]] | None:
        """SQLite, holding the file lock: read the tail, chain onto it, INSERT the group as one autocommit
        statement. None when the locked path must do it: our key was retired by another process, or a
        writer not holding the file lock took the next seq."""
        database = self.database
        try:
            if self._autocommit is None:
                self._autocommit = database.engine.raw_connection()  # SQLite connections are set to autocommit
            cursor = self._autocommit.cursor()
            cursor.execute(database.statements.tail_and_key, (self._fingerprint,))
            ((tail_seq, tail_leaf, retired),) = cursor.fetchall()  # all: the read transaction ends here
            if retired is not None:
                return None
            chained = self._chain(groups, tail_seq, tail_leaf)
            database.statements.insert_records(cursor, chained.rows)
        except database.tail_taken:
            return None
        except (SQLAlchemyError, database.driver_errors) as exc:
            self._release_autocommit_connection(broken=True)
            raise unavailable(exc) from None
        return self._committed(chained)

    def _release_autocommit_connection(self, broken: bool = False) -> None:
        connection, self._autocommit = self._autocommit, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError, self.database.driver_errors):
                if broken:
                    connection.invalidate()
                connection.close()

    def _commit_locked(
        self, groups: list[list[RecordSkeleton]], extra: Callable[[Connection, str], None] | None = None
    ) -> list[list[AppendedRecord]]:
        """Commit the groups in a transaction holding the database's write lock, chained onto its tail."""
        with self.database.write_transaction() as conn:
            cursor = conn.connection.cursor()
            cursor.execute(self.database.statements.tail_and_key, (self._fingerprint,))
            ((tail_seq, tail_leaf, retired),) = cursor.fetchall()
            if retired is not None:
                self._adopt_rotated_key(conn)
            chained = self._chain(groups, tail_seq, tail_leaf)
            if chained.rows:
                self.database.statements.insert_records(cursor, chained.rows)
            if extra is not None:
                extra(conn, chained.ts)
        return self._committed(chained)

    def _chain(self, groups: list[list[RecordSkeleton]], tail_seq: int | None, tail_leaf: str | None) -> ChainedGroup:
        """The groups chained onto the tail read (None, None: an empty log); refused if records went missing."""
        tail = (-1, GENESIS_PREV) if tail_seq is None else (tail_seq, str(tail_leaf))
        self._refuse_short_tail(tail[0] + 1)
        return chain_groups(groups, tail, utc_timestamp(), self._signing_key, self._fingerprint)

    def _committed(self, chained: ChainedGroup) -> list[list[AppendedRecord]]:
        """Note a durable group: the size, the reader's tree."""
        if chained.rows:
            self._committed_size = chained.first_seq + len(chained.rows)
            self.reader.note_committed(chained.first_seq, chained.leaves)
        return chained.results

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

    # ---- key rotation --------------------------------------------------------------------------

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
            conn.execute(insert(SIGNING_KEYS).values(**_key_row(new_public)))
            conn.execute(update(SIGNING_KEYS).where(SIGNING_KEYS.c.fingerprint == old_fingerprint).values(retired=ts))

        with self._writers_serialised():
            self._commit_locked([[record_skeleton(KEY_ROTATION, fields)]], extra=switch_keys)
        self._use_key(new_key)

    def _adopt_rotated_key(self, conn: Connection) -> None:
        """Our key was retired by a rotation on another node: take the new key from the shared key dir."""
        key = keys.load_signing_key(self.key_dir)
        fingerprint = key_fingerprint(key.public_key())
        row = conn.execute(select(SIGNING_KEYS.c.retired).where(SIGNING_KEYS.c.fingerprint == fingerprint)).first()
        if row is None or row.retired is not None:
            raise AuditUnavailable(f"signing key {self._fingerprint} was retired by another node and {self.key_dir} "
                                   "holds no current key")
        self._use_key(key)

    def _key_registered(self, fingerprint: str) -> bool | None:
        """Whether `fingerprint` is in the key table; None when the database cannot tell."""
        try:
            with self.database.reading() as conn:
                query = select(SIGNING_KEYS.c.fingerprint).where(SIGNING_KEYS.c.fingerprint == fingerprint)
                return conn.execute(query).first() is not None
        except AuditUnavailable:
            return None

    # ---- opening: tables, keys, the tail -------------------------------------------------------

    def _prepare(self, accept_loss: bool) -> list[str]:
        """Create tables, settle an unfinished key rotation, register the key, load the tree, check its tail.

        Returns the tail mismatches `accept_loss` let through."""
        staged = keys.load_staged_signing_key(self.key_dir)
        with self.database.write_transaction() as conn:
            _create_tables(conn, self.database)
            self._register_key(conn, staged)
            latest = conn.execute(select(func.max(CHECKPOINTS.c.size))).scalar()
        if staged is not None:
            (keys.promote_staged_key if self._signing_key is staged else keys.discard_staged_key)(self.key_dir)
        self._checkpoint_size = latest or 0
        with self.reader.synced_tree() as tree:
            self._committed_size = tree.size
            return self._check_tail(tree, accept_loss)

    def _register_key(self, conn: Connection, staged: Ed25519PrivateKey | None) -> None:
        """Sign with the staged key if its rotation was recorded; register the signing key if it is new;
        refuse a retired one."""
        rows = conn.execute(select(SIGNING_KEYS.c.fingerprint, SIGNING_KEYS.c.retired))
        registered = {fingerprint: retired for fingerprint, retired in rows}
        if staged is not None and key_fingerprint(staged.public_key()) in registered:
            self._use_key(staged)
        fingerprint = self.signing_fingerprint
        if registered.get(fingerprint):
            raise keys.KeyFileError(f"signing key {fingerprint} was retired at {registered[fingerprint]}; use the current key")
        if fingerprint not in registered:
            conn.execute(insert(SIGNING_KEYS).values(**_key_row(self._signing_key.public_key())))

    def _check_tail(self, tree: MerkleTree, accept_loss: bool) -> list[str]:
        """The log must extend what the witnesses know (`TailWitnesses.mismatches`). A mismatch is noted as an
        incident and refused (LogTailMismatch) unless `accept_loss`; returns the mismatches let through. The
        database's newest checkpoint, once verified, becomes the kept one if it is larger (another node may
        have signed it)."""
        stored = self.reader.latest_checkpoint()
        mismatches = self.witnesses.mismatches(tree, stored, self._known_keys(), self.origin)
        if mismatches and not accept_loss:
            worst = max(mismatches, key=lambda mismatch: mismatch.expected_size)
            self.witnesses.note_incident(str(worst), worst.expected_size)
            raise worst
        if stored is not None and not mismatches:
            self._keep_checkpoint(stored)
        return [str(mismatch) for mismatch in mismatches]

    def _known_keys(self) -> list[Ed25519PublicKey]:
        return [self._signing_key.public_key(), *self.reader.public_keys().values()]

    def _settle_tail(self, lost: list[str]) -> None:
        """Record how a tail mismatch was settled: the database restored, or the loss accepted (`lost`)."""
        incident = self.witnesses.pending_incident()
        if not lost and incident is None:
            return
        fields: dict[str, Any] = {"log_size": self.reader.size()}
        if incident is not None:
            fields.update(detected_at=incident.detected_at, reason=incident.reason, expected_size=incident.expected_size)
        if lost:
            fields.update(event="loss_accepted", mismatches=lost, void_checkpoints=self._void_checkpoints())
        else:
            fields["event"] = "restored"
        self.tail_settlement = {**fields, "seq": self.append(AUDIT_INTEGRITY, fields).seq}
        note = self.write_checkpoint()
        if lost:
            self._keep_checkpoint(note, even_if_smaller=True)
        self.witnesses.settle_incident()

    def _void_checkpoints(self) -> list[str]:
        """Delete the stored checkpoints the log no longer extends (after an accepted loss); their notes."""
        keys = self._known_keys()
        with self.reader.synced_tree() as tree, self.database.write_transaction() as conn:
            void = []
            for row in conn.execute(select(CHECKPOINTS.c.id, CHECKPOINTS.c.note)).all():
                try:
                    tail_anchor.check_extends(tree, row.note, "a stored checkpoint", keys, self.origin)
                except LogTailMismatch:
                    void.append(row)
            if void:
                conn.execute(CHECKPOINTS.delete().where(CHECKPOINTS.c.id.in_([row.id for row in void])))
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


def _create_tables(conn: Connection, database: AuditDatabase) -> None:
    """Create the audit tables if missing; refuse a store of an older layout."""
    SQLModel.metadata.create_all(conn, tables=AUDIT_TABLES)
    missing = set(RECORD_COLUMNS) - {column["name"] for column in inspect(conn).get_columns(RECORDS.name)}
    if missing:
        raise AuditUnavailable(
            f"the audit store at {database.url} has an older layout (no column "
            f"{', '.join(sorted(missing))}); export and verify it with the version that wrote it, then start a new store"
        )


def _key_row(public_key: Ed25519PublicKey) -> dict[str, Any]:
    return {
        "fingerprint": key_fingerprint(public_key),
        "public_key": base64.b64encode(public_key_bytes(public_key)).decode(),
        "created": utc_timestamp(),
        "retired": None,
    }
