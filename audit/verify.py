"""Offline verifier of an audit export directory (standard library plus `cryptography` only).

    python -m audit.verify EXPORT_DIR [--trusted-checkpoint FILE] [--trusted-fingerprint HEX]

Starting from the export's first public key (whose fingerprint the reviewer compares with the one
they trust) it follows the key rotations recorded in the log, checks every record's place in the
hash chain and every head signature, checks the records against the signed checkpoint (rebuilding
the Merkle tree, or with inclusion proofs for a partial export), checks that the log still extends
a checkpoint the reviewer kept from an earlier export, and checks the signed manifest of files.
Exit status 0 with a summary when everything holds; 1 naming the first broken record and why.

Exports are treated as hostile input: only regular files are read (never through a symbolic link, a
FIFO or a device), every file has a size cap, record lines have a length cap, and JSON nested too
deeply to parse is a verdict like any other. Whatever happens, the verdict is one FAILED or OK line.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import multiprocessing
import os
import stat
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from audit.checkpoint import Checkpoint, CheckpointError, verify_checkpoint
from audit.merkle import MerkleTree, ProofError, verify_consistency, verify_inclusion
from audit.record import GENESIS_PREV, canonical_json, key_fingerprint, verify_head

FORMAT = "appliance-audit-export/1"
RECORDS_FILE = "records.jsonl"
HEADS_FILE = "heads.jsonl"
ROTATIONS_FILE = "key_rotations.jsonl"
CHECKPOINT_FILE = "checkpoint"
PUBLIC_KEY_FILE = "public_key.pem"
FINGERPRINT_FILE = "public_key.fingerprint"
PROOFS_FILE = "proofs.json"
MANIFEST_FILE = "manifest.json"
MANIFEST_SIG_FILE = "manifest.sig"
ROTATION_KIND = "key_rotation"
MAX_RECORD_LINE = 1 << 20  # one record's canonical JSON; the appliance writes a few KB
MAX_SMALL_FILE = 1 << 20  # manifest, checkpoint, public key, fingerprint, signature
MAX_FILE_BYTES = {HEADS_FILE: 1 << 30, ROTATIONS_FILE: 64 << 20, PROOFS_FILE: 64 << 20}  # read whole
MAX_HASHED_FILE = 1 << 40  # any file the manifest lists, hashed in blocks (records.jsonl included)
_FILE_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
               (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


class VerifyError(Exception):
    """The export does not verify; `seq` names the first broken record when there is one."""

    def __init__(self, reason: str, seq: int | None = None) -> None:
        super().__init__(reason if seq is None else f"record {seq}: {reason}")
        self.reason = reason
        self.seq = seq


@dataclass(frozen=True)
class LogSlice:
    """A contiguous run of log records and the signed tree it belongs to."""

    records: int
    first_seq: int
    last_seq: int
    tree_size: int
    root: str
    first_ts: str
    last_ts: str
    genesis_key_fingerprint: str
    signing_key_fingerprint: str


@dataclass(frozen=True)
class VerifyReport(LogSlice):
    """What a successful verification established."""

    key_rotations: int
    trusted_size: int | None

    def summary(self) -> str:
        lines = [
            f"OK: {self.records} records (seq {self.first_seq}..{self.last_seq}) verified",
            f"time range:      {self.first_ts} .. {self.last_ts}",
            f"tree size:       {self.tree_size}",
            f"root:            {self.root}",
            f"first key:       {self.genesis_key_fingerprint}  (compare with the fingerprint you trust)",
            f"signing key:     {self.signing_key_fingerprint}  ({self.key_rotations} key rotation(s) followed)",
        ]
        if self.trusted_size is not None:
            lines.append(f"consistent with: your trusted checkpoint of size {self.trusted_size}")
        return "\n".join(lines)


class _KeyChain:
    """The key in force, starting at the first key and switching after each rotation's signed head."""

    def __init__(self, genesis: Ed25519PublicKey) -> None:
        self.current = genesis
        self.fingerprint = key_fingerprint(genesis)
        self.keys = [genesis]
        self.rotations = 0
        self._pending: list[tuple[int, Ed25519PublicKey]] = []

    def announce(self, seq: int, record: dict[str, Any]) -> None:
        """Note a key_rotation record; it takes effect once a head signed by the current key covers it."""
        try:
            raw = base64.b64decode(record["new_public_key"], validate=True)
            new_key = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise VerifyError("key rotation record does not hold a valid Ed25519 public key", seq) from None
        if record.get("new_key_fingerprint") != key_fingerprint(new_key):
            raise VerifyError("key rotation record's fingerprint does not match its new public key", seq)
        self._pending.append((seq, new_key))

    def check_head(self, head: dict[str, Any], leaf: bytes) -> None:
        """Check the head over record head["last_seq"] (whose leaf hash is `leaf`), then apply rotations."""
        seq = head["last_seq"]
        if head.get("leaf") != leaf.hex():
            raise VerifyError("does not match the hash its head signature covers (record altered)", seq)
        if head.get("key_fingerprint") != self.fingerprint:
            raise VerifyError(f"head names key {head.get('key_fingerprint')!r}, but key {self.fingerprint} was in force", seq)
        if not isinstance(head.get("signature"), str) or not verify_head(self.current, seq, leaf, head["signature"]):
            raise VerifyError(f"head signature does not verify with key {self.fingerprint}", seq)
        while self._pending and self._pending[0][0] <= seq:
            _, self.current = self._pending.pop(0)
            self.fingerprint = key_fingerprint(self.current)
            self.keys.append(self.current)
            self.rotations += 1

    def finish(self) -> None:
        if self._pending:
            raise VerifyError("key rotation is not covered by a head signed with the previous key", self._pending[0][0])


@dataclass
class _Walk:
    """What walking the records established."""

    count: int = 0
    last_seq: int = -1
    first_leaf: bytes = b""
    last_leaf: bytes = b""
    first_ts: str = ""
    last_ts: str = ""


def verify_export(
    directory: Path,
    trusted_checkpoint: str | None = None,
    trusted_fingerprint: str | None = None,
    *,
    workers: int | None = None,
) -> VerifyReport:
    """Verify the export in `directory`; raise VerifyError naming the first problem found.

    `workers` processes parse and hash the records (default: one per CPU for exports of at least
    PARALLEL_MIN_BYTES of records; 1 walks them in this process).
    """
    directory = Path(directory)
    manifest_bytes = _read(directory, MANIFEST_FILE)
    manifest = _load_json(manifest_bytes, MANIFEST_FILE)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise VerifyError(f"{MANIFEST_FILE} is not an {FORMAT} manifest")
    origin = _field(manifest, "origin", str)
    first_seq, last_seq = _field(manifest, "first_seq", int), _field(manifest, "last_seq", int)
    tree_size = _field(manifest, "tree_size", int)
    full = first_seq == 0 and last_seq == tree_size - 1

    genesis = _load_public_key(directory)
    genesis_fingerprint = key_fingerprint(genesis)
    if _read(directory, FINGERPRINT_FILE).decode(errors="replace").strip() != genesis_fingerprint:
        raise VerifyError(f"{FINGERPRINT_FILE} does not match {PUBLIC_KEY_FILE}")
    if trusted_fingerprint is not None and trusted_fingerprint.strip().lower() != genesis_fingerprint:
        raise VerifyError(f"the export's first key {genesis_fingerprint} is not the trusted key {trusted_fingerprint.strip()}")

    rotations = list(_rotation_evidence(directory))

    def start_walk() -> tuple[_KeyChain, MerkleTree | None]:
        """The key chain at the slice's first record (rotations before it followed) and an empty tree."""
        chain = _KeyChain(genesis)
        for record, head in (item for item in rotations if item[0]["seq"] < first_seq):
            _follow_rotation(chain, record, head)
        return chain, MerkleTree() if full else None

    heads = _load_heads(directory, first_seq, last_seq)
    chain, tree = start_walk()
    walk = _walk_records_in_parallel(directory, first_seq, heads, chain, tree, workers)
    if walk is None:  # small export, or something to judge: the sequential walk names the first problem
        chain, tree = start_walk()
        walk = _walk_records(directory, first_seq, heads, chain, tree)
    if walk.last_seq < last_seq:
        missing = walk.last_seq + 1
        raise VerifyError(f"missing: the records end at seq {walk.last_seq} but the export lists up to {last_seq}", missing)
    if walk.last_seq > last_seq:
        raise VerifyError(f"not part of the export, which lists records only up to seq {last_seq}", last_seq + 1)
    for record, head in (item for item in rotations if item[0]["seq"] > last_seq):
        _follow_rotation(chain, record, head)
    chain.finish()

    checkpoint = _verify_checkpoint(directory, chain, origin)
    if checkpoint.size != tree_size:
        raise VerifyError(f"{CHECKPOINT_FILE} covers {checkpoint.size} records, the manifest {tree_size}")
    proofs = _load_json(_read(directory, PROOFS_FILE), PROOFS_FILE)
    if not isinstance(proofs, dict):
        raise VerifyError(f"{PROOFS_FILE} is not a JSON object")
    if tree is not None:
        if tree.root() != checkpoint.root:
            raise VerifyError("the Merkle tree over the records does not match the signed checkpoint", last_seq)
    else:
        for seq, leaf in ((first_seq, walk.first_leaf), (last_seq, walk.last_leaf)):
            _check_inclusion(proofs, seq, leaf, checkpoint)

    trusted_size = None
    if trusted_checkpoint is not None:
        trusted = _verify_trusted_checkpoint(trusted_checkpoint, chain, origin)
        _check_consistency(trusted, checkpoint, tree, proofs)
        trusted_size = trusted.size

    _verify_manifest(directory, manifest, manifest_bytes, chain)
    return VerifyReport(
        records=walk.count,
        first_seq=first_seq,
        last_seq=last_seq,
        tree_size=checkpoint.size,
        root=checkpoint.root.hex(),
        first_ts=walk.first_ts,
        last_ts=walk.last_ts,
        genesis_key_fingerprint=genesis_fingerprint,
        signing_key_fingerprint=chain.fingerprint,
        key_rotations=chain.rotations,
        trusted_size=trusted_size,
    )


def _walk_records(
    directory: Path, first_seq: int, heads: list[dict[str, Any]], chain: _KeyChain, tree: MerkleTree | None
) -> _Walk:
    """Check seqs, the hash chain and the heads record by record; feed the leaves to `tree`."""
    walk = _Walk(last_seq=first_seq - 1)
    previous = bytes.fromhex(GENESIS_PREV) if first_seq == 0 else None
    suspect: int | None = None  # a record whose `prev` disagrees with its predecessor, judged by its successor
    head_index = 0
    sha256, decode = hashlib.sha256, json.JSONDecoder().raw_decode
    with open_regular(directory / RECORDS_FILE, MAX_HASHED_FILE) as lines:
        for raw in iter(lambda: lines.readline(MAX_RECORD_LINE + 1), b""):
            seq = walk.last_seq + 1
            if len(raw) > MAX_RECORD_LINE:
                raise VerifyError(f"longer than {MAX_RECORD_LINE} bytes, the most a record may take", seq)
            if not raw.endswith(b"\n"):
                raise VerifyError(f"the last line of {RECORDS_FILE} is cut short", seq)
            line = raw[:-1]
            try:
                text = line.decode("utf-8")
                record, end = decode(text)
            except (ValueError, RecursionError):
                raise VerifyError("not valid JSON (or nested too deeply)", seq) from None
            if end != len(text):
                raise VerifyError("not valid JSON (text after the record)", seq)
            if not isinstance(record, dict):
                raise VerifyError("not a JSON object", seq)
            found = record.get("seq")
            if found != seq or type(found) is not int:
                raise VerifyError(
                    f"found seq {found!r} where seq {seq} belongs: records were deleted, inserted or reordered", seq)
            leaf = sha256(b"\x00" + line).digest()
            linked = previous is None or record.get("prev") == previous.hex()
            if suspect is not None:
                raise VerifyError(_altered_reason(), suspect - 1 if linked else suspect)
            if record.get("kind") == ROTATION_KIND:
                chain.announce(seq, record)
            if head_index < len(heads) and heads[head_index]["last_seq"] == seq:
                chain.check_head(heads[head_index], leaf)
                head_index += 1
                if not linked:
                    raise VerifyError(_altered_reason(), seq - 1)
            elif not linked:
                suspect = seq
            if tree is not None:
                tree.append(leaf)
            if walk.count == 0:
                walk.first_leaf, walk.first_ts = leaf, str(record.get("ts"))
            walk.count, walk.last_seq, walk.last_leaf, walk.last_ts = walk.count + 1, seq, leaf, str(record.get("ts"))
            previous = leaf
    if walk.count == 0:
        raise VerifyError(f"{RECORDS_FILE} holds no records")
    if suspect is not None:
        raise VerifyError(f"its prev does not match the hash of record {suspect - 1}; one of the two was altered", suspect)
    return walk


PARALLEL_MIN_BYTES = 16 << 20  # smaller record files verify faster than worker processes start
CHUNKS_PER_WORKER = 4


@dataclass
class _ChunkScan:
    """What a worker found in a run of whole lines of the records file; clean=False: judge sequentially."""

    clean: bool
    first_seq: int = -1
    count: int = 0
    leaves: bytes = b""  # 32 bytes per record
    prevs: str = ""  # 64 hex digits per record, as written
    rotations: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    first_ts: str = ""
    last_ts: str = ""


def _scan_chunk(path: str, start: int, end: int) -> _ChunkScan:
    """Parse and hash the lines in bytes [start, end) of `path` (runs in a worker process)."""
    with open_regular(Path(path), MAX_HASHED_FILE) as stream:
        stream.seek(start)
        lines = stream.read(end - start).split(b"\n")
    if lines.pop() != b"":  # the chunk must end with a whole line
        return _ChunkScan(clean=False)
    sha256, decode = hashlib.sha256, json.JSONDecoder().raw_decode
    leaves: list[bytes] = []
    prevs: list[str] = []
    rotations: list[tuple[int, dict[str, Any]]] = []
    seq: int | None = None
    first_ts = last_ts = ""
    for line in lines:
        try:
            text = line.decode("utf-8")
            record, end_at = decode(text)
        except (ValueError, RecursionError):
            return _ChunkScan(clean=False)
        if end_at != len(text) or not isinstance(record, dict):
            return _ChunkScan(clean=False)
        found, prev = record.get("seq"), record.get("prev")
        if type(found) is not int or (seq is not None and found != seq + 1) or type(prev) is not str or len(prev) != 64:
            return _ChunkScan(clean=False)
        seq = found
        leaves.append(sha256(b"\x00" + line).digest())
        prevs.append(prev)
        if record.get("kind") == ROTATION_KIND:
            rotations.append((seq, record))
        last_ts = str(record.get("ts"))
        first_ts = first_ts or last_ts
    if seq is None:
        return _ChunkScan(clean=False)
    return _ChunkScan(True, seq - len(lines) + 1, len(lines), b"".join(leaves), "".join(prevs), rotations, first_ts, last_ts)


def _chunk_bounds(path: Path, chunks: int) -> list[tuple[int, int]]:
    """About `chunks` byte ranges of `path`, each a run of whole lines."""
    bounds = [0]
    with open_regular(path, MAX_HASHED_FILE) as stream:
        size = os.fstat(stream.fileno()).st_size
        for index in range(1, chunks):
            stream.seek(max(size * index // chunks, bounds[-1]))
            if not stream.readline(MAX_RECORD_LINE + 1).endswith(b"\n"):  # to the start of the next line
                return []  # an over-long or unfinished line: the sequential walk names it
            if stream.tell() >= size:
                break
            bounds.append(stream.tell())
    bounds.append(size)
    return [(start, end) for start, end in zip(bounds, bounds[1:]) if end > start]


def _start_method() -> str:
    """fork where it is safe (Linux, no other threads that could hold a lock the child inherits), else spawn."""
    return "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"


def _walk_records_in_parallel(
    directory: Path, first_seq: int, heads: list[dict[str, Any]], chain: _KeyChain, tree: MerkleTree | None,
    workers: int | None,
) -> _Walk | None:
    """`_walk_records` with the parsing and hashing spread over worker processes; it only ever accepts.

    It returns None, and the sequential walk judges and names the first broken record exactly, when the
    export is small, a worker finds anything but well-formed consecutive records, or a link, head or
    rotation does not hold.
    """
    path = directory / RECORDS_FILE
    regular = path.is_file() and not path.is_symlink()
    if workers is None:
        workers = os.cpu_count() or 1
        if not regular or path.stat().st_size < PARALLEL_MIN_BYTES:
            return None
    if workers < 2 or not regular:
        return None
    bounds = _chunk_bounds(path, workers * CHUNKS_PER_WORKER)
    if not bounds:
        return None
    walk = _Walk(last_seq=first_seq - 1)
    expected_prev = GENESIS_PREV if first_seq == 0 else None
    head_index, rotations_pending = 0, []
    context = multiprocessing.get_context(_start_method())
    pool = ProcessPoolExecutor(max_workers=min(workers, len(bounds)), mp_context=context)
    try:
        for scan in pool.map(_scan_chunk, [str(path)] * len(bounds), *zip(*bounds)):
            if not scan.clean or scan.first_seq != walk.last_seq + 1:
                return None
            leaf_hex = scan.leaves.hex()
            chained = scan.prevs[64:] == leaf_hex[:-64]
            if not chained or (expected_prev is not None and scan.prevs[:64] != expected_prev):
                return None
            expected_prev = leaf_hex[-64:]
            rotations_pending += scan.rotations
            last_seq = scan.first_seq + scan.count - 1
            try:
                while head_index < len(heads) and heads[head_index]["last_seq"] <= last_seq:
                    head_seq = heads[head_index]["last_seq"]
                    while rotations_pending and rotations_pending[0][0] <= head_seq:
                        chain.announce(*rotations_pending.pop(0))
                    offset = (head_seq - scan.first_seq) * 32
                    chain.check_head(heads[head_index], scan.leaves[offset:offset + 32])
                    head_index += 1
            except VerifyError:
                return None
            if tree is not None:
                tree.extend(scan.leaves[i:i + 32] for i in range(0, len(scan.leaves), 32))
            if walk.count == 0:
                walk.first_leaf, walk.first_ts = scan.leaves[:32], scan.first_ts
            walk.count += scan.count
            walk.last_seq, walk.last_leaf, walk.last_ts = last_seq, scan.leaves[-32:], scan.last_ts
    finally:
        pool.shutdown(cancel_futures=True)  # on a doubt, chunks not yet started are not worth scanning
    try:
        for seq, record in rotations_pending:
            chain.announce(seq, record)
    except VerifyError:
        return None
    return walk if walk.count else None

def _altered_reason() -> str:
    return "altered: its hash no longer matches the prev of the record after it"


def _follow_rotation(chain: _KeyChain, record: dict[str, Any], head: dict[str, Any]) -> None:
    """Apply a key rotation outside the exported slice, proven by the head signed with the previous key."""
    seq = record["seq"]
    if record.get("kind") != ROTATION_KIND or head["last_seq"] != seq:
        raise VerifyError(f"{ROTATIONS_FILE} holds something other than a key rotation with its head", seq)
    chain.announce(seq, record)
    chain.check_head(head, hashlib.sha256(b"\x00" + canonical_json(record)).digest())


def _verify_checkpoint(directory: Path, chain: _KeyChain, origin: str) -> Checkpoint:
    note = _read(directory, CHECKPOINT_FILE).decode("utf-8", errors="replace")
    try:
        checkpoint = verify_checkpoint(note, chain.current, origin)
    except CheckpointError as exc:
        raise VerifyError(f"{CHECKPOINT_FILE} is not signed by the log's current key {chain.fingerprint}: {exc}") from None
    if checkpoint.origin != origin:
        raise VerifyError(f"{CHECKPOINT_FILE} is for log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


def _verify_trusted_checkpoint(note: str, chain: _KeyChain, origin: str) -> Checkpoint:
    """The kept checkpoint, if any key the log has used signed it."""
    for key in chain.keys:
        try:
            trusted = verify_checkpoint(note, key, origin)
        except CheckpointError:
            continue
        if trusted.origin != origin:
            raise VerifyError(f"the trusted checkpoint is for log {trusted.origin!r}, not {origin!r}")
        return trusted
    raise VerifyError("the trusted checkpoint is not signed by any key of this log")


def _check_inclusion(proofs: dict[str, Any], seq: int, leaf: bytes, checkpoint: Checkpoint) -> None:
    proof = _proof_list(proofs.get("inclusion", {}), str(seq))
    if proof is None:
        raise VerifyError(f"{PROOFS_FILE} holds no inclusion proof for it", seq)
    try:
        verify_inclusion(leaf, seq, checkpoint.size, proof, checkpoint.root)
    except ProofError as exc:
        raise VerifyError(f"not included in the signed checkpoint: {exc}", seq) from None


def _check_consistency(trusted: Checkpoint, current: Checkpoint, tree: MerkleTree | None, proofs: dict[str, Any]) -> None:
    """The current tree must extend the trusted one: not smaller, and the same first records."""
    if trusted.size > current.size:
        raise VerifyError(
            f"the log was truncated: this export's tree has {current.size} records, "
            f"but your trusted checkpoint already had {trusted.size}",
            current.size,
        )
    if trusted.size == 0:
        return
    if tree is not None:
        if tree.root(trusted.size) != trusted.root:
            raise VerifyError(f"the log was rewritten: its first {trusted.size} records do not match your trusted checkpoint")
        return
    proof = [] if trusted.size == current.size else _proof_list(proofs.get("consistency", {}), str(trusted.size))
    if proof is None:
        raise VerifyError(f"{PROOFS_FILE} holds no consistency proof from your trusted tree size {trusted.size}")
    try:
        verify_consistency(trusted.size, current.size, trusted.root, current.root, proof)
    except ProofError as exc:
        raise VerifyError(f"the log is not consistent with your trusted checkpoint: {exc}") from None


def _verify_manifest(directory: Path, manifest: dict[str, Any], manifest_bytes: bytes, chain: _KeyChain) -> None:
    """The manifest is signed by the current key and lists exactly the files present, with their SHA-256."""
    try:
        signature = base64.b64decode(_read(directory, MANIFEST_SIG_FILE).strip(), validate=True)
        chain.current.verify(signature, manifest_bytes)
    except (InvalidSignature, binascii.Error, ValueError):
        raise VerifyError(f"{MANIFEST_SIG_FILE} is not a valid signature of {MANIFEST_FILE} by key {chain.fingerprint}") from None
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise VerifyError(f"{MANIFEST_FILE} lists no files")
    present = set(_regular_files(directory)) - {MANIFEST_FILE, MANIFEST_SIG_FILE}
    for name in sorted(present - set(listed)):
        raise VerifyError(f"{name} is not listed in the signed manifest")
    for name, digest in sorted(listed.items()):
        if name not in present:
            raise VerifyError(f"{name} is listed in the manifest but missing")
        if sha256_file(directory / name) != digest:
            raise VerifyError(f"{name} does not match its SHA-256 in the signed manifest")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a regular file, read in blocks."""
    digest = hashlib.sha256()
    with open_regular(path, MAX_HASHED_FILE) as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def open_regular(path: Path, max_bytes: int) -> BinaryIO:
    """`path` opened for reading if it is a regular file of at most `max_bytes`; VerifyError otherwise.

    Opened without following a symbolic link and without blocking (a FIFO would hang a plain open), then
    judged by what was opened (fstat), so the file cannot be swapped between the check and the read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise VerifyError(f"{path.name} is missing from {path.parent}") from None
    except OSError as exc:
        kind = _kind_of(os.lstat(path).st_mode) if os.path.lexists(path) else None
        reason = f"is {kind}; an export holds regular files only" if kind else f"cannot be read: {exc.strerror}"
        raise VerifyError(f"{path.name} {reason}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise VerifyError(f"{path.name} is {_kind_of(info.st_mode)}; an export holds regular files only")
        if info.st_size > max_bytes:
            raise VerifyError(f"{path.name} is {info.st_size} bytes, over the {max_bytes} an export may hold there")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind_of(mode: int) -> str:
    """What a file of `mode` is, for a verdict."""
    return next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")


def _regular_files(directory: Path) -> Iterator[str]:
    """Every file under `directory` (relative, '/'-separated); VerifyError for anything but regular files
    and directories. Symbolic links are never followed."""
    for root, folders, files in os.walk(directory, followlinks=False):
        for name in folders + files:
            path = Path(root) / name
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            relative = path.relative_to(directory).as_posix()
            if not stat.S_ISREG(mode):
                raise VerifyError(f"{relative} is {_kind_of(mode)}; an export holds regular files only")
            yield relative


def _read(directory: Path, name: str) -> bytes:
    with open_regular(directory / name, MAX_FILE_BYTES.get(name, MAX_SMALL_FILE)) as stream:
        try:
            return stream.read()
        except OSError as exc:
            raise VerifyError(f"{name} cannot be read: {exc.strerror}") from None


def _load_json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise VerifyError(f"{name} is not valid JSON (or nested too deeply)") from None


def _json_lines(directory: Path, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(_read(directory, name).splitlines(), start=1):
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            raise VerifyError(f"{name} line {number} is not valid JSON (or nested too deeply)") from None
        if not isinstance(value, dict):
            raise VerifyError(f"{name} line {number} is not a JSON object")
        yield number, value


def _field(container: dict[str, Any], name: str, kind: type) -> Any:
    value = container.get(name)
    if type(value) is not kind:
        raise VerifyError(f"{MANIFEST_FILE} field {name!r} is missing or not a {kind.__name__}")
    return value


def _load_public_key(directory: Path) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(_read(directory, PUBLIC_KEY_FILE))
    except ValueError:
        raise VerifyError(f"{PUBLIC_KEY_FILE} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise VerifyError(f"{PUBLIC_KEY_FILE} is not an Ed25519 public key")
    return key


def _load_heads(directory: Path, first_seq: int, last_seq: int) -> list[dict[str, Any]]:
    heads: list[dict[str, Any]] = []
    for number, head in _json_lines(directory, HEADS_FILE):
        seq = head.get("last_seq")
        if type(seq) is not int or not first_seq <= seq <= last_seq or (heads and seq <= heads[-1]["last_seq"]):
            raise VerifyError(f"{HEADS_FILE} line {number}: head seq {seq!r} is out of order or outside the export")
        heads.append(head)
    return heads


def _rotation_evidence(directory: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    last = -1
    for number, item in _json_lines(directory, ROTATIONS_FILE):
        record, head = item.get("record"), item.get("head")
        if not isinstance(record, dict) or not isinstance(head, dict):
            raise VerifyError(f"{ROTATIONS_FILE} line {number} needs a record and a head")
        seq = record.get("seq")
        if type(seq) is not int or seq <= last or type(head.get("last_seq")) is not int:
            raise VerifyError(f"{ROTATIONS_FILE} line {number}: seq {seq!r} is out of order")
        last = seq
        yield record, head


def _proof_list(proofs: Any, key: str) -> list[bytes] | None:
    if not isinstance(proofs, dict) or not isinstance(proofs.get(key), list):
        return None
    try:
        return [base64.b64decode(item, validate=True) for item in proofs[key]]
    except (TypeError, ValueError, binascii.Error):
        raise VerifyError(f"{PROOFS_FILE} proof {key} is not a list of base64 hashes") from None


NO_ANCHOR_WARNING = (
    "WARNING: NO TRUST ANCHOR. Without --trusted-fingerprint (the key fingerprint you recorded when the appliance "
    "was set up) anyone can make an export that passes with a key of their own, and without --trusted-checkpoint "
    "a log cut short since your last export passes too. This check shows only that the export is self-consistent."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: verify an export directory; exit 0 when it holds, 1 otherwise, with one verdict line."""
    parser = argparse.ArgumentParser(prog="python -m audit.verify", description="Verify an audit export offline.")
    parser.add_argument("directory", type=Path, help="the export directory")
    parser.add_argument("--trusted-checkpoint", type=Path, help="a checkpoint file kept from an earlier export")
    parser.add_argument("--trusted-fingerprint", help="the SHA-256 fingerprint (hex) of the key you trust")
    args = parser.parse_args(argv)
    if args.trusted_fingerprint is None and args.trusted_checkpoint is None:
        print(NO_ANCHOR_WARNING, file=sys.stderr)
    try:
        trusted = None
        if args.trusted_checkpoint is not None:
            with open_regular(args.trusted_checkpoint, MAX_SMALL_FILE) as stream:
                trusted = stream.read().decode("utf-8", errors="replace")
        report = verify_export(args.directory, trusted, args.trusted_fingerprint)
    except VerifyError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"FAILED: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    except Exception as exc:  # RecursionError, MemoryError, ...: whatever a hostile export provokes, the verdict is one line
        print(f"FAILED: the export could not be verified ({type(exc).__name__})", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
