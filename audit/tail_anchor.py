"""Witnesses of the log's tail kept outside the database, beside the keys.

Someone with write access to the database (a DBA on PostgreSQL) can delete the newest records, and the
checkpoints over them, and the log would carry on from the shorter tail. Two files in the key directory
stop that:

- `checkpoint-<log>.kept`: the newest checkpoint this node signed or saw verified, replaced atomically each time
  a larger one is signed. At open the log must still hold at least its size, with the same root there.
  Several nodes sharing one PostgreSQL log each keep their own; one older than the database's newest
  checkpoint is fine as long as the log extends it.
- `tail-incident-<log>.json`: written when the store finds the log does not extend what it knew (at open, or at
  a commit that finds the tail shorter than the log already was). It names the size the log must reach
  again. The store refuses to open until the database is restored to at least that (a backup), or the
  operator records the loss (`appliance audit accept-loss`); either way an `audit_integrity` record in the
  log then says what happened, and the file goes.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import make_url

from audit.checkpoint import Checkpoint, CheckpointError, parse_body, split_note, verify_checkpoint
from audit.format import utc_timestamp
from audit.keys import fsync_dir
from audit.merkle import MerkleTree

MAX_WITNESS_BYTES = 64 << 10
REPAIR_HINT = ("restore the audit database from a backup that holds those records, or record the loss with "
               "`appliance audit accept-loss`")


class LogTailMismatch(RuntimeError):
    """The log does not extend a checkpoint it signed earlier (records deleted or rewritten); says how to repair.

    `expected_size`: how many records the log must hold again (0 when that is unknown).
    """

    def __init__(self, reason: str, expected_size: int = 0) -> None:
        super().__init__(reason)
        self.expected_size = expected_size


@dataclass(frozen=True)
class Incident:
    """A mismatch found earlier and not yet settled: the log must hold `expected_size` records again."""

    detected_at: str
    reason: str
    expected_size: int


def check_extends(tree: MerkleTree, note: str, where: str, keys: Iterable[Ed25519PublicKey], origin: str) -> Checkpoint:
    """The checkpoint `note` (from `where`), which must be signed by one of `keys`; LogTailMismatch unless
    the log whose leaves are in `tree` holds at least its size with the same root there."""
    checkpoint = _verified(note, where, keys, origin)
    if checkpoint.size > tree.size:
        raise LogTailMismatch(
            f"audit log truncated: it holds {tree.size} records but {where} covers {checkpoint.size} "
            f"(records {tree.size}..{checkpoint.size - 1} were deleted from the database); {REPAIR_HINT}",
            checkpoint.size,
        )
    if tree.root(checkpoint.size) != checkpoint.root:
        raise LogTailMismatch(
            f"audit log rewritten: its first {checkpoint.size} records do not match {where}; {REPAIR_HINT}",
            checkpoint.size,
        )
    return checkpoint


class TailWitnesses:
    """The two witness files of one log (named by a digest of its database URL, so a key directory that
    served another database, e.g. SQLite before PostgreSQL, does not mistake one log for the other)."""

    def __init__(self, key_dir: Path, database_url: str) -> None:
        log = hashlib.sha256(make_url(database_url).render_as_string(hide_password=True).encode()).hexdigest()[:16]
        self.key_dir = key_dir
        self.kept_path = key_dir / f"checkpoint-{log}.kept"
        self.incident_path = key_dir / f"tail-incident-{log}.json"

    def kept(self) -> str | None:
        """The checkpoint note kept beside the keys, or None before the first."""
        data = _read_private(self.kept_path)
        return None if data is None else data.decode("utf-8", errors="replace")

    def keep(self, note: str, *, even_if_smaller: bool = False) -> None:
        """Replace the kept checkpoint with `note` (atomically) unless the kept one is larger."""
        if not even_if_smaller:
            kept = self.kept()
            if kept is not None and _size(kept) > _size(note):
                return
        _write_private(self.kept_path, note.encode())

    def mismatches(
        self, tree: MerkleTree, stored: str | None, keys: list[Ed25519PublicKey], origin: str
    ) -> list[LogTailMismatch]:
        """What the log in `tree` fails to extend: the database's newest checkpoint (`stored`), the kept one,
        the size an unsettled incident names."""
        checkpoints = {"the database's newest checkpoint": stored, f"the checkpoint kept at {self.kept_path}": self.kept()}
        found: list[LogTailMismatch] = []
        for where, note in checkpoints.items():
            try:
                if note is not None:
                    check_extends(tree, note, where, keys, origin)
            except LogTailMismatch as exc:
                found.append(exc)
        incident = self.pending_incident()
        if incident is not None and incident.expected_size > tree.size:
            found.append(LogTailMismatch(
                f"audit log truncated: it holds {tree.size} records but held {incident.expected_size} when "
                f"this was found ({incident.detected_at}); {REPAIR_HINT}", incident.expected_size))
        return found

    def note_incident(self, reason: str, expected_size: int) -> None:
        """Remember a mismatch until it is settled (keeping the larger expected size of two)."""
        earlier = self.pending_incident()
        if earlier is not None and earlier.expected_size >= expected_size:
            return
        body = {"detected_at": utc_timestamp(), "reason": reason, "expected_size": expected_size}
        _write_private(self.incident_path, json.dumps(body).encode())

    def pending_incident(self) -> Incident | None:
        """The unsettled mismatch, if any."""
        data = _read_private(self.incident_path)
        if data is None:
            return None
        try:
            body: dict[str, Any] = json.loads(data)
            return Incident(str(body["detected_at"]), str(body["reason"]), int(body["expected_size"]))
        except (ValueError, KeyError, TypeError):
            raise LogTailMismatch(f"{self.incident_path} is corrupt; restore it or the database, then open again") from None

    def settle_incident(self) -> None:
        """Forget the mismatch once the log records how it was settled."""
        self.incident_path.unlink(missing_ok=True)
        fsync_dir(self.key_dir)


def _verified(note: str, where: str, keys: Iterable[Ed25519PublicKey], origin: str) -> Checkpoint:
    for key in keys:
        try:
            return verify_checkpoint(note, key, origin)
        except CheckpointError:
            continue
    raise LogTailMismatch(f"{where} is not signed by any key of this log (forged or for another log); {REPAIR_HINT}")


def _size(note: str) -> int:
    try:
        return parse_body(split_note(note)[0]).size
    except CheckpointError as exc:
        raise LogTailMismatch(f"a kept checkpoint is malformed: {exc}") from None


def _read_private(path: Path) -> bytes | None:
    """A witness file's bytes (None when absent); refused when others may write it or it is not a small file."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_WITNESS_BYTES or info.st_mode & 0o022:
        raise LogTailMismatch(f"{path} must be a small regular file only its owner can write")
    return path.read_bytes()


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` (0600) atomically: a whole new file renamed over the old, both synced."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
