"""Export a verifiable slice of the audit log into a directory a reviewer can check offline.

The directory holds the records (canonical JSON, one per line), the head signatures over them, a
fresh signed checkpoint, the log's first public key (the reviewer's trust anchor) and proofs tying
the slice to the checkpoint, all listed with their SHA-256 in a manifest signed by the current key.
Key rotations outside the slice travel with their heads so the verifier can follow the key chain
from the first key to the one that signed the checkpoint. `audit.verify` checks such a directory.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select
from sqlmodel import col

from audit import keys
from audit.checkpoint import verify_checkpoint
from audit.models import AuditCheckpoint, AuditRecord
from audit.record import canonical_json, key_fingerprint
from audit.store import AuditStore, heads_in_time_range
from audit.verify import (
    CHECKPOINT_FILE,
    FINGERPRINT_FILE,
    FORMAT,
    HEADS_FILE,
    MANIFEST_FILE,
    MANIFEST_SIG_FILE,
    PROOFS_FILE,
    PUBLIC_KEY_FILE,
    RECORDS_FILE,
    ROTATION_KIND,
    ROTATIONS_FILE,
    LogSlice,
    sha256_file,
)

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
EXPORT_FILES = frozenset({RECORDS_FILE, HEADS_FILE, ROTATIONS_FILE, CHECKPOINT_FILE, PUBLIC_KEY_FILE, FINGERPRINT_FILE,
                          PROOFS_FILE, MANIFEST_FILE, MANIFEST_SIG_FILE})
READ_CHUNK = 10_000


class ExportError(RuntimeError):
    """The export could not be written; the message says why (nothing partial is left behind as valid)."""


@dataclass(frozen=True)
class ExportSummary(LogSlice):
    """What an export holds, and where."""

    directory: Path


def export_audit(
    store: AuditStore,
    out_dir: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> ExportSummary:
    """Announce the export in the log, checkpoint it and write records with ts in [since, until) to `out_dir`.

    The slice is the contiguous seq range from the first record at or after `since` to the last
    before `until` (default: the whole log, including the `export` record itself). `extra_files`
    (name -> content, e.g. a report for the assessor) are written beside it and listed in the signed manifest.
    """
    out_dir = Path(out_dir)
    for name in extra_files or {}:
        if name in EXPORT_FILES or not name or "/" in name:
            raise ExportError(f"cannot add a file named {name!r} to an export")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"export directory {out_dir} already exists and is not empty")
    signing_key = keys.load_signing_key(store.key_dir)
    announced = {"since": _bound(since), "until": _bound(until)}
    if actor is not None:
        announced["actor"] = actor
    store.append("export", announced)
    note = store.write_checkpoint()
    try:
        checkpoint = verify_checkpoint(note, signing_key.public_key(), store.origin)
    except ValueError:
        raise ExportError("the signing key changed while exporting (key rotation); export again") from None

    first, last = _seq_range(store, since, until, checkpoint.size)
    all_heads = store.read_heads(checkpoint.size - 1)
    heads = [head for head in all_heads if first <= head["last_seq"] <= last]
    full = first == 0 and last == checkpoint.size - 1
    public_keys = store.public_keys()
    genesis_key = public_keys[all_heads[0]["key_fingerprint"]]

    out_dir.mkdir(parents=True, exist_ok=True)
    first_ts, last_ts = _write_records(store, out_dir / RECORDS_FILE, first, last)
    files = {
        HEADS_FILE: b"".join(canonical_json(_head(head)) + b"\n" for head in heads),
        ROTATIONS_FILE: _rotations_outside(store, all_heads, first, last, checkpoint.size),
        CHECKPOINT_FILE: note.encode(),
        PUBLIC_KEY_FILE: genesis_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        FINGERPRINT_FILE: (key_fingerprint(genesis_key) + "\n").encode(),
        PROOFS_FILE: _json(_proofs(store, first, last, checkpoint.size, full)),
    }
    files.update(extra_files or {})
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
    signing_fingerprint = key_fingerprint(signing_key.public_key())
    summary = ExportSummary(
        directory=out_dir,
        records=last - first + 1,
        first_seq=first,
        last_seq=last,
        tree_size=checkpoint.size,
        root=checkpoint.root.hex(),
        first_ts=first_ts,
        last_ts=last_ts,
        genesis_key_fingerprint=key_fingerprint(genesis_key),
        signing_key_fingerprint=signing_fingerprint,
    )
    manifest = _json({
        "format": FORMAT,
        "origin": store.origin,
        "created": datetime.now(UTC).strftime(TS_FORMAT),
        "first_seq": first,
        "last_seq": last,
        "records": summary.records,
        "tree_size": checkpoint.size,
        "root": summary.root,
        "first_ts": summary.first_ts,
        "last_ts": summary.last_ts,
        "genesis_key_fingerprint": summary.genesis_key_fingerprint,
        "signing_key_fingerprint": signing_fingerprint,
        "files": {name: sha256_file(out_dir / name) for name in sorted([RECORDS_FILE, *files])},
    })
    (out_dir / MANIFEST_FILE).write_bytes(manifest)
    (out_dir / MANIFEST_SIG_FILE).write_bytes(base64.b64encode(signing_key.sign(manifest)) + b"\n")
    return summary


def _write_records(store: AuditStore, path: Path, first: int, last: int) -> tuple[str, str]:
    """Write records first..last as stored (canonical JSON lines), a chunk at a time; return the first and last ts."""
    first_ts = last_ts = ""
    with path.open("wb") as out:
        for start in range(first, last + 1, READ_CHUNK):
            bodies = store.read_bodies(start, min(start + READ_CHUNK - 1, last))
            out.write("\n".join(bodies).encode() + b"\n")
            first_ts, last_ts = first_ts or json.loads(bodies[0])["ts"], json.loads(bodies[-1])["ts"]
    return first_ts, last_ts


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode() + b"\n"


def _bound(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("export bounds must carry a time zone")
    return value.astimezone(UTC).strftime(TS_FORMAT)


def _head(head: dict[str, Any]) -> dict[str, Any]:
    return {name: head[name] for name in ("last_seq", "leaf", "key_fingerprint", "signature")}


def _seq_range(store: AuditStore, since: datetime | None, until: datetime | None, size: int) -> tuple[int, int]:
    """The seqs (inclusive) of the first record at/after `since` and the last before `until` (below `size`)."""
    after, before = heads_in_time_range(since, None), heads_in_time_range(None, until)
    first_query = select(func.min(after.c.first_seq)).where(after.c.first_seq < size)
    last_query = select(func.max(before.c.last_seq)).where(before.c.first_seq < size)
    with store.engine.connect() as conn:
        first, last = conn.execute(first_query).scalar(), conn.execute(last_query).scalar()
    if first is None or last is None or first > min(last, size - 1):
        raise ExportError(f"no audit records between {_bound(since) or 'the start'} and {_bound(until) or 'now'}")
    return first, min(last, size - 1)


def _rotations_outside(store: AuditStore, heads: list[dict[str, Any]], first: int, last: int, size: int) -> bytes:
    """Key rotations outside the slice, each with the head (signed by the previous key) covering it."""
    head_at = {head["last_seq"]: head for head in heads}
    seq_column = col(AuditRecord.seq)
    query = select(seq_column).where(col(AuditRecord.kind) == ROTATION_KIND, seq_column < size).order_by(seq_column)
    with store.engine.connect() as conn:
        seqs = [seq for seq in conn.execute(query).scalars() if not first <= seq <= last]
    lines = []
    for seq in seqs:
        if seq not in head_at:
            raise ExportError(f"key rotation record {seq} does not end a signed commit group")
        (record,) = store.read_records(seq, seq)
        lines.append(canonical_json({"record": record, "head": _head(head_at[seq])}) + b"\n")
    return b"".join(lines)


def _proofs(store: AuditStore, first: int, last: int, size: int, full: bool) -> dict[str, Any]:
    """Inclusion proofs of the slice's ends and consistency proofs from every earlier checkpoint.

    A full export needs neither: the verifier rebuilds the tree from the records themselves.
    """
    if full:
        return {"tree_size": size, "inclusion": {}, "consistency": {}}
    with store.engine.connect() as conn:
        sizes = conn.execute(select(col(AuditCheckpoint.size)).where(col(AuditCheckpoint.size) < size).distinct()).scalars().all()
    return {
        "tree_size": size,
        "inclusion": {str(seq): _b64_list(store.inclusion_proof(seq, size)) for seq in sorted({first, last})},
        "consistency": {str(m): _b64_list(store.consistency_proof(m, size)) for m in sorted(sizes) if m > 0},
    }


def _b64_list(proof: list[bytes]) -> list[str]:
    return [base64.b64encode(item).decode() for item in proof]
