"""The audit store's database plumbing: engines, SQLite and PostgreSQL dialect details, the writers' lock
and the one translation of database faults into `AuditUnavailable`.

SQLite runs in WAL mode with synchronous=FULL and secure_delete; writers begin with BEGIN IMMEDIATE and
are serialised across processes by a file lock beside the database (`audit.write_lock`). PostgreSQL
writers take an advisory transaction lock. A commit group's rows go in as one multi-row INSERT run on the
raw DBAPI cursor (`GroupStatements`).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from audit.errors import AuditUnavailable
from audit.models import RECORDS, SIGNING_KEYS
from audit.write_lock import LogWriteLock

SQLITE_BUSY_TIMEOUT_S = 5.0
UNAVAILABLE = "audit store unavailable"
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"appliance-audit-log").digest()[:8], "big", signed=True)
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
            f"SELECT t.seq, t.leaf, (SELECT retired FROM {SIGNING_KEYS.name} WHERE fingerprint = {mark}) "
            f"FROM (SELECT 1 AS one) AS o LEFT JOIN "
            f"(SELECT seq, leaf FROM {RECORDS.name} ORDER BY seq DESC LIMIT 1) AS t ON 1 = 1"
        )
        insert_prefix = f"INSERT INTO {RECORDS.name} ({', '.join(RECORD_COLUMNS)}) VALUES "
        row = f"({', '.join([mark] * len(RECORD_COLUMNS))})"
        # By row count; the driver keeps the recent ones prepared.
        self._insert_statement = functools.lru_cache(maxsize=64)(lambda count: insert_prefix + ", ".join([row] * count))

    def insert_records(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert `rows` (values in RECORD_COLUMNS order) with `cursor`, a DBAPI cursor."""
        for start in range(0, len(rows), self.MAX_ROWS_PER_STATEMENT):
            chunk = rows[start:start + self.MAX_ROWS_PER_STATEMENT]
            cursor.execute(self._insert_statement(len(chunk)), [value for row in chunk for value in row])


class AuditDatabase:
    """One audit database: its engine, its dialect's statements and write lock, and its fault translation.

    Every read and write of the audit package goes through `reading`, `write_transaction` or `errors`, so a
    database fault always surfaces as `AuditUnavailable`.
    """

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.url = self.engine.url.render_as_string(hide_password=True)  # safe to show
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self.statements = GroupStatements(self.engine.dialect.paramstyle)
        self.driver_errors: type[Exception] = self.engine.dialect.loaded_dbapi.Error
        self.tail_taken: type[Exception] = self.engine.dialect.loaded_dbapi.IntegrityError
        # SQLite: the file lock serialising the log's writers (None for an in-memory database: one process).
        self.write_lock = sqlite_write_lock(self.engine)
        self._writer = self.engine.execution_options(audit_write=True)

    @contextlib.contextmanager
    def errors(self, what: str = UNAVAILABLE) -> Iterator[None]:
        """Database faults inside the block become AuditUnavailable: `what`, then the database's reason."""
        try:
            yield
        except (SQLAlchemyError, self.driver_errors) as exc:
            raise unavailable(exc, what) from None

    @contextlib.contextmanager
    def reading(self, what: str = UNAVAILABLE) -> Iterator[Connection]:
        """A connection for reads."""
        with self.errors(what), self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def transaction(self, what: str = UNAVAILABLE) -> Iterator[Connection]:
        """A transaction without the write lock (checkpoints, captures: rows outside the chain)."""
        with self.errors(what), self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[Connection]:
        """A transaction holding the database's write lock (serialises writers across processes)."""
        with self.errors(), self._writer.begin() as conn:
            if self.is_postgres:
                conn.execute(_PG_WRITE_LOCK)
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def unavailable(exc: Exception, what: str = UNAVAILABLE) -> AuditUnavailable:
    """The AuditUnavailable for a database fault: `what`, then the database's reason (first line only: no
    SQL, no parameters)."""
    cause = getattr(exc, "orig", None) or exc
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return AuditUnavailable(f"{what}: {type(cause).__name__}: {reason}")


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
