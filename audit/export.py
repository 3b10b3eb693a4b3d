"""Export a verifiable slice of the audit log into a directory a reviewer can check offline.

The directory holds the records (canonical JSON, one per line), the head signatures over them, a
fresh signed checkpoint, the log's first public key (the reviewer's trust anchor) and proofs tying
the slice to the checkpoint, all listed with their SHA-256 in a manifest signed by the current key
(layout and file names: `audit.format`). Key rotations outside the slice travel with their heads so the
verifier can follow the key chain from the first key to the one that signed the checkpoint.
`audit.verify` checks such a directory. Everything read comes through the log's reader, so a database
fault surfaces as `AuditUnavailable`.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import audit.format as layout
from audit import keys
from audit.checkpoint import Checkpoint, key_fingerprint, verify_checkpoint
from audit.format import EXPORT, HEAD_FIELDS, LogSlice, canonical_json, format_timestamp, utc_timestamp
from audit.log import AuditLog
from audit.reader import AuditReader

READ_CHUNK = 10_000


class ExportError(RuntimeError):
    """The export could not be written; the message says why (nothing partial is left behind as valid)."""


@dataclass(frozen=True)
class ExportSummary(LogSlice):
    """What an export holds, and where."""

    directory: Path


def export_audit(
    log: AuditLog,
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
    Steps: check the destination, announce and checkpoint, select the slice, write its files, sign the manifest.
    """
    out_dir = Path(out_dir)
    _check_destination(out_dir, extra_files or {})
    signing_key = keys.load_signing_key(log.key_dir)
    note, checkpoint = _announce(log, signing_key, since, until, actor)
    reader = log.reader
    first, last = _select(reader, since, until, checkpoint.size)
    all_heads = reader.read_heads(checkpoint.size - 1)
    genesis_key = reader.public_keys()[all_heads[0]["key_fingerprint"]]
    out_dir.mkdir(parents=True, exist_ok=True)
    first_ts, last_ts, digests = _write_records(reader, out_dir / layout.RECORDS_FILE, first, last)
    files = {
        layout.HEADS_FILE: b"".join(canonical_json(_head(h)) + b"\n" for h in all_heads if first <= h["last_seq"] <= last),
        layout.ROTATIONS_FILE: _rotations_outside(reader, all_heads, first, last, checkpoint.size),
        layout.CHECKPOINT_FILE: note.encode(),
        layout.PUBLIC_KEY_FILE: genesis_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        layout.FINGERPRINT_FILE: (key_fingerprint(genesis_key) + "\n").encode(),
        layout.PROOFS_FILE: _json(_proofs(reader, first, last, checkpoint.size)),
        **(extra_files or {}),
    }
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    summary = ExportSummary(
        records=last - first + 1, first_seq=first, last_seq=last, tree_size=checkpoint.size,
        root=checkpoint.root.hex(), first_ts=first_ts, last_ts=last_ts,
        genesis_key_fingerprint=key_fingerprint(genesis_key),
        signing_key_fingerprint=key_fingerprint(signing_key.public_key()), directory=out_dir,
    )
    _sign_manifest(out_dir, summary, log.origin, digests, signing_key)
    return summary


def _check_destination(out_dir: Path, extra_files: dict[str, bytes]) -> None:
    """Refuse extra files that would clash with the export's own, and a directory that is not empty."""
    for name in extra_files:
        if name in layout.EXPORT_FILES or not name or "/" in name:
            raise ExportError(f"cannot add a file named {name!r} to an export")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"export directory {out_dir} already exists and is not empty")


def _announce(
    log: AuditLog, signing_key: Ed25519PrivateKey, since: datetime | None, until: datetime | None, actor: str | None
) -> tuple[str, Checkpoint]:
    """Append the `export` record and sign a checkpoint covering it: the note and what it commits to."""
    announced = {"since": _bound(since), "until": _bound(until)}
    if actor is not None:
        announced["actor"] = actor
    log.append(EXPORT, announced)
    note = log.write_checkpoint()
    try:
        return note, verify_checkpoint(note, signing_key.public_key(), log.origin)
    except ValueError:
        raise ExportError("the signing key changed while exporting (key rotation); export again") from None


def _select(reader: AuditReader, since: datetime | None, until: datetime | None, size: int) -> tuple[int, int]:
    """The slice's seqs (inclusive); ExportError when no record lies in [since, until)."""
    selected = reader.seq_range(since, until, size)
    if selected is None:
        raise ExportError(f"no audit records between {_bound(since) or 'the start'} and {_bound(until) or 'now'}")
    return selected


def _write_records(reader: AuditReader, path: Path, first: int, last: int) -> tuple[str, str, dict[str, str]]:
    """Write records first..last as stored (canonical JSON lines), a chunk at a time; return the first and
    last ts and the file's SHA-256 (by name)."""
    first_ts = last_ts = ""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for start in range(first, last + 1, READ_CHUNK):
            bodies = reader.read_bodies(start, min(start + READ_CHUNK - 1, last))
            chunk = "\n".join(bodies).encode() + b"\n"
            out.write(chunk)
            digest.update(chunk)
            first_ts, last_ts = first_ts or json.loads(bodies[0])["ts"], json.loads(bodies[-1])["ts"]
    return first_ts, last_ts, {layout.RECORDS_FILE: digest.hexdigest()}


def _sign_manifest(out_dir: Path, summary: ExportSummary, origin: str, digests: dict[str, str],
                   signing_key: Ed25519PrivateKey) -> None:
    """Write the manifest (the slice, and every file with its SHA-256) and its signature by the current key."""
    manifest = _json({
        "format": layout.EXPORT_FORMAT,
        "origin": origin,
        "created": utc_timestamp(),
        "first_seq": summary.first_seq,
        "last_seq": summary.last_seq,
        "records": summary.records,
        "tree_size": summary.tree_size,
        "root": summary.root,
        "first_ts": summary.first_ts,
        "last_ts": summary.last_ts,
        "genesis_key_fingerprint": summary.genesis_key_fingerprint,
        "signing_key_fingerprint": summary.signing_key_fingerprint,
        "files": dict(sorted(digests.items())),
    })
    (out_dir / layout.MANIFEST_FILE).write_bytes(manifest)
    (out_dir / layout.MANIFEST_SIG_FILE).write_bytes(base64.b64encode(signing_key.sign(manifest)) + b"\n")


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode() + b"\n"


def _bound(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def _head(head: dict[str, Any]) -> dict[str, Any]:
    return {name: head[name] for name in HEAD_FIELDS}


def _rotations_outside(reader: AuditReader, heads: list[dict[str, Any]], first: int, last: int, size: int) -> bytes:
    """Key rotations outside the slice, each with the head (signed by the previous key) covering it."""
    head_at = {head["last_seq"]: head for head in heads}
    lines = []
    for seq in (seq for seq in reader.rotation_seqs(size) if not first <= seq <= last):
        if seq not in head_at:
            raise ExportError(f"key rotation record {seq} does not end a signed commit group")
        (record,) = reader.read_records(seq, seq)
        lines.append(canonical_json({"record": record, "head": _head(head_at[seq])}) + b"\n")
    return b"".join(lines)


def _proofs(reader: AuditReader, first: int, last: int, size: int) -> dict[str, Any]:
    """Inclusion proofs of the slice's ends and consistency proofs from every earlier checkpoint.

    A full export needs neither: the verifier rebuilds the tree from the records themselves.
    """
    if first == 0 and last == size - 1:
        return {"tree_size": size, "inclusion": {}, "consistency": {}}
    return {
        "tree_size": size,
        "inclusion": {str(seq): _b64_list(reader.inclusion_proof(seq, size)) for seq in sorted({first, last})},
        "consistency": {str(m): _b64_list(reader.consistency_proof(m, size)) for m in reader.checkpoint_sizes(size)},
    }


def _b64_list(proof: list[bytes]) -> list[str]:
    return [base64.b64encode(item).decode() for item in proof]
