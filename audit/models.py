"""SQLModel tables of the audit store (SQLite or PostgreSQL).

`AuditRecord.body` is the record's canonical JSON, exactly the bytes its leaf hash covers; the other
record columns are copies kept for lookups. Encrypted captures live outside the hashed records, so
destroying a subject's key changes no record hash.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, Table, Text, text
from sqlmodel import Field, SQLModel

# A 64-bit sequence number; on SQLite spelled INTEGER so that, as the primary key, it is the table's rowid
# (BIGINT PRIMARY KEY would add a separate unique index that every append must also write).
SeqNumber = BigInteger().with_variant(Integer(), "sqlite")
HEAD_ROWS = text("signature IS NOT NULL")  # the rows that end a commit group


class AuditRecord(SQLModel, table=True):
    """One audit record: seq is 0-based and gap-free; body is canonical JSON.

    The last record of each commit group also carries the group's head: the Ed25519 signature over its
    (seq, leaf), the signing key's fingerprint and the group's first seq. Keeping the head in the same row
    lets a group go in as one INSERT statement. Every record of a group carries the group's `ts`; time
    filters look up the heads through a partial index (one entry per group, not per record) and read
    their seq ranges, exact even when the clock stepped back between groups or nodes disagree.
    """

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_head_seq", "seq", sqlite_where=HEAD_ROWS, postgresql_where=HEAD_ROWS),
        Index("ix_audit_records_head_ts", "ts", sqlite_where=HEAD_ROWS, postgresql_where=HEAD_ROWS),
    )

    seq: int = Field(sa_column=Column(SeqNumber, primary_key=True, autoincrement=False))
    ts: str
    kind: str = Field(index=True)
    request_id: Optional[str] = Field(default=None, index=True)
    actor: Optional[str] = Field(default=None, index=True)
    body: str = Field(sa_column=Column(Text, nullable=False))
    leaf: str = Field(max_length=64)
    group_first_seq: Optional[int] = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    key_fingerprint: Optional[str] = Field(default=None, max_length=64)
    signature: Optional[str] = None


class AuditCheckpoint(SQLModel, table=True):
    """A signed checkpoint note (C2SP tlog-checkpoint) for the tree of the first `size` records."""

    __tablename__ = "audit_checkpoints"

    id: Optional[int] = Field(default=None, primary_key=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    root: str = Field(max_length=64)
    note: str = Field(sa_column=Column(Text, nullable=False))
    ts: str


class AuditSigningKey(SQLModel, table=True):
    """Every Ed25519 key that ever signed for the log, by fingerprint (SHA-256 of the raw key)."""

    __tablename__ = "audit_signing_keys"

    fingerprint: str = Field(primary_key=True, max_length=64)
    public_key: str
    created: str
    retired: Optional[str] = None


class CaptureKey(SQLModel, table=True):
    """A data subject's data key, wrapped under the capture master key; NULL once erased."""

    __tablename__ = "audit_capture_keys"

    key_id: str = Field(primary_key=True, max_length=32)
    subject: str = Field(index=True, max_length=64)
    wrapped_key: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created: str
    erased: Optional[str] = None


class Capture(SQLModel, table=True):
    """One encrypted text (AES-256-GCM under its subject's data key); records hold only `ref`."""

    __tablename__ = "audit_captures"

    ref: str = Field(primary_key=True, max_length=32)
    key_id: str = Field(index=True, max_length=32)
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created: str


AUDIT_TABLES: list[Table] = [
    model.__table__  # type: ignore[attr-defined]
    for model in (AuditRecord, AuditCheckpoint, AuditSigningKey, CaptureKey, Capture)
]
RECORDS, CHECKPOINTS, SIGNING_KEYS, CAPTURE_KEYS, CAPTURES = AUDIT_TABLES  # the tables, for Core queries
