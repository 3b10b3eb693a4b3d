"""Offline verifier of an audit export directory (standard library plus `cryptography` only).

    python -m audit.verify EXPORT_DIR [--trusted-checkpoint FILE] [--trusted-fingerprint HEX]

Starting from the export's first public key (whose fingerprint the reviewer compares with the one
they trust) it follows the key rotations recorded in the log, checks every record's place in the
hash chain and every head signature, checks the records against the signed checkpoint (rebuilding
the Merkle tree, or with inclusion proofs for a partial export), checks that the log still extends
a checkpoint the reviewer kept from an earlier export, and checks the signed manifest of files.
Exit status 0 with a summary when everything holds; 1 naming the first broken record and why.

Exports are treated as hostile input (`audit.verify_files`): only regular files are read, every file has
a size cap, record lines have a length cap, and JSON nested too deeply to parse is a verdict like any
other. Whatever happens, the verdict is one FAILED or OK line. Of the audit package it uses only the
contract (`audit.format`), `audit.merkle`, `audit.checkpoint` and its own modules.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    key_fingerprint,
    verify_checkpoint,
)
from audit.format import (
    CHECKPOINT_FILE,
    EXPORT_FORMAT,
    FINGERPRINT_FILE,
    GENESIS_PREV,
    HEADS_FILE,
    MANIFEST_FILE,
    MANIFEST_SIG_FILE,
    PROOFS_FILE,
    PUBLIC_KEY_FILE,
    RECORDS_FILE,
    ROTATIONS_FILE,
    LogSlice,
    leaf_hash,
    leaf_hash_of_bytes,
)
from audit.merkle import MerkleTree, ProofError, verify_consistency, verify_inclusion
from audit.verify_files import (
    MAX_HASHED_FILE,
    MAX_RECORD_LINE,
    MAX_SMALL_FILE,
    VerifyError,
    json_lines,
    load_json,
    open_regular,
    read_file,
    regular_files,
    sha256_file,
)
from audit.verify_parallel import walk_records_in_parallel
from audit.verify_rules import (
    ALTERED,
    KeyChain,
    Walk,
    check_seq,
    claimed_prev,
    is_rotation,
    read_record,
    record_ts,
)


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


@dataclass(frozen=True)
class _Manifest:
    """The manifest's bytes and the fields the checks rely on."""

    data: bytes
    fields: dict[str, Any]
    origin: str
    first_seq: int
    last_seq: int
    tree_size: int

    @property
    def full(self) -> bool:
        """Whether the export holds the whole tree (then it is rebuilt; else proofs tie the slice to it)."""
        return self.first_seq == 0 and self.last_seq == self.tree_size - 1


def verify_export(
    directory: Path,
    trusted_checkpoint: str | None = None,
    trusted_fingerprint: str | None = None,
    *,
    workers: int | None = None,
) -> VerifyReport:
    """Verify the export in `directory`; raise VerifyError naming the first problem found.

    Steps: read the manifest; take the first key (the trusted one, if given); walk the records (chain,
    heads, key rotations); check them against the signed checkpoint; check the checkpoint extends the
    trusted one, if given; check the signed manifest lists exactly the files present. `workers` processes
    parse and hash the records (default: one per CPU for exports of at least PARALLEL_MIN_BYTES of
    records; 1 walks them in this process).
    """
    directory = Path(directory)
    manifest = _read_manifest(directory)
    genesis = _first_key(directory, trusted_fingerprint)
    chain, tree, walk = _walk(directory, manifest, genesis, workers)
    checkpoint = _verify_checkpoint(directory, chain, manifest.origin)
    if checkpoint.size != manifest.tree_size:
        raise VerifyError(f"{CHECKPOINT_FILE} covers {checkpoint.size} records, the manifest {manifest.tree_size}")
    proofs = load_json(read_file(directory, PROOFS_FILE), PROOFS_FILE)
    if not isinstance(proofs, dict):
        raise VerifyError(f"{PROOFS_FILE} is not a JSON object")
    _check_slice_in_checkpoint(manifest, walk, tree, proofs, checkpoint)
    trusted_size = None
    if trusted_checkpoint is not None:
        trusted = _verify_trusted_checkpoint(trusted_checkpoint, chain, manifest.origin)
        _check_consistency(trusted, checkpoint, tree, proofs)
        trusted_size = trusted.size
    _verify_manifest(directory, manifest, chain)
    return VerifyReport(
        records=walk.count, first_seq=manifest.first_seq, last_seq=manifest.last_seq, tree_size=checkpoint.size,
        root=checkpoint.root.hex(), first_ts=walk.first_ts, last_ts=walk.last_ts,
        genesis_key_fingerprint=key_fingerprint(genesis), signing_key_fingerprint=chain.fingerprint,
        key_rotations=chain.rotations, trusted_size=trusted_size,
    )


def _read_manifest(directory: Path) -> _Manifest:
    data = read_file(directory, MANIFEST_FILE)
    fields = load_json(data, MANIFEST_FILE)
    if not isinstance(fields, dict) or fields.get("format") != EXPORT_FORMAT:
        raise VerifyError(f"{MANIFEST_FILE} is not an {EXPORT_FORMAT} manifest")
    return _Manifest(data, fields, _field(fields, "origin", str), _field(fields, "first_seq", int),
                     _field(fields, "last_seq", int), _field(fields, "tree_size", int))


def _first_key(directory: Path, trusted_fingerprint: str | None) -> Ed25519PublicKey:
    """The export's first public key, which must match its fingerprint file and the trusted fingerprint."""
    genesis = _load_public_key(directory)
    fingerprint = key_fingerprint(genesis)
    if read_file(directory, FINGERPRINT_FILE).decode(errors="replace").strip() != fingerprint:
        raise VerifyError(f"{FINGERPRINT_FILE} does not match {PUBLIC_KEY_FILE}")
    if trusted_fingerprint is not None and trusted_fingerprint.strip().lower() != fingerprint:
        raise VerifyError(f"the export's first key {fingerprint} is not the trusted key {trusted_fingerprint.strip()}")
    return genesis


def _walk(
    directory: Path, manifest: _Manifest, genesis: Ed25519PublicKey, workers: int | None
) -> tuple[KeyChain, MerkleTree | None, Walk]:
    """Walk the records from the first key (rotations before the slice followed first), in parallel when
    that accepts them, else sequentially; then the rotations after the slice."""
    rotations = list(_rotation_evidence(directory))
    heads = _load_heads(directory, manifest.first_seq, manifest.last_seq)

    def start() -> tuple[KeyChain, MerkleTree | None]:
        """The key chain at the slice's first record and an empty tree (for a full export)."""
        chain = KeyChain(genesis)
        for record, head in (item for item in rotations if item[0]["seq"] < manifest.first_seq):
            _follow_rotation(chain, record, head)
        return chain, MerkleTree() if manifest.full else None

    chain, tree = start()
    walk = walk_records_in_parallel(directory, manifest.first_seq, heads, chain, tree, workers)
    if walk is None:  # small export, or something to judge: the sequential walk names the first problem
        chain, tree = start()
        walk = _walk_records(directory, manifest.first_seq, heads, chain, tree)
    if walk.last_seq < manifest.last_seq:
        raise VerifyError(f"missing: the records end at seq {walk.last_seq} but the export lists up to "
                          f"{manifest.last_seq}", walk.last_seq + 1)
    if walk.last_seq > manifest.last_seq:
        raise VerifyError(f"not part of the export, which lists records only up to seq {manifest.last_seq}",
                          manifest.last_seq + 1)
    for record, head in (item for item in rotations if item[0]["seq"] > manifest.last_seq):
        _follow_rotation(chain, record, head)
    chain.finish()
    return chain, tree, walk


class _SequentialWalk:
    """The record rules applied one line at a time; names the first broken record."""

    def __init__(self, first_seq: int, heads: list[dict[str, Any]], chain: KeyChain, tree: MerkleTree | None) -> None:
        self.walk = Walk(last_seq=first_seq - 1)
        self.previous = GENESIS_PREV if first_seq == 0 else None  # hex leaf of the record before
        self.suspect: int | None = None  # a record whose `prev` disagrees with its predecessor, judged by its successor
        self.heads, self.head_index, self.chain, self.tree = heads, 0, chain, tree

    def step(self, raw: bytes) -> None:
        """Check the next line of the records file."""
        seq = self.walk.last_seq + 1
        record, line = read_record(raw, seq)
        check_seq(record, seq)
        leaf = leaf_hash_of_bytes(line)
        linked = self.previous is None or claimed_prev(record) == self.previous
        if self.suspect is not None:
            raise VerifyError(ALTERED, self.suspect - 1 if linked else self.suspect)
        if is_rotation(record):
            self.chain.announce(seq, record)
        if self.head_index < len(self.heads) and self.heads[self.head_index]["last_seq"] == seq:
            self.chain.check_head(self.heads[self.head_index], leaf)
            self.head_index += 1
            if not linked:
                raise VerifyError(ALTERED, seq - 1)
        elif not linked:
            self.suspect = seq
        if self.tree is not None:
            self.tree.append(leaf)
        ts = record_ts(record)
        self.walk.add(1, seq, leaf, leaf, ts, ts)
        self.previous = leaf.hex()

    def finish(self) -> Walk:
        if self.walk.count == 0:
            raise VerifyError(f"{RECORDS_FILE} holds no records")
        if self.suspect is not None:
            raise VerifyError(f"its prev does not match the hash of record {self.suspect - 1}; one of the two was altered",
                              self.suspect)
        return self.walk


def _walk_records(
    directory: Path, first_seq: int, heads: list[dict[str, Any]], chain: KeyChain, tree: MerkleTree | None
) -> Walk:
    """Check seqs, the hash chain and the heads record by record; feed the leaves to `tree`."""
    walker = _SequentialWalk(first_seq, heads, chain, tree)
    with open_regular(directory / RECORDS_FILE, MAX_HASHED_FILE) as lines:
        for raw in iter(lambda: lines.readline(MAX_RECORD_LINE + 1), b""):
            walker.step(raw)
    return walker.finish()


def _follow_rotation(chain: KeyChain, record: dict[str, Any], head: dict[str, Any]) -> None:
    """Apply a key rotation outside the exported slice, proven by the head signed with the previous key."""
    seq = record["seq"]
    if not is_rotation(record) or head["last_seq"] != seq:
        raise VerifyError(f"{ROTATIONS_FILE} holds something other than a key rotation with its head", seq)
    chain.announce(seq, record)
    chain.check_head(head, leaf_hash(record))


def _verify_checkpoint(directory: Path, chain: KeyChain, origin: str) -> Checkpoint:
    note = read_file(directory, CHECKPOINT_FILE).decode("utf-8", errors="replace")
    try:
        checkpoint = verify_checkpoint(note, chain.current, origin)
    except CheckpointError as exc:
        raise VerifyError(f"{CHECKPOINT_FILE} is not signed by the log's current key {chain.fingerprint}: {exc}") from None
    if checkpoint.origin != origin:
        raise VerifyError(f"{CHECKPOINT_FILE} is for log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


def _check_slice_in_checkpoint(
    manifest: _Manifest, walk: Walk, tree: MerkleTree | None, proofs: dict[str, Any], checkpoint: Checkpoint
) -> None:
    """A full export's tree has the checkpoint's root; a slice's ends have inclusion proofs to it."""
    if tree is not None:
        if tree.root() != checkpoint.root:
            raise VerifyError("the Merkle tree over the records does not match the signed checkpoint", manifest.last_seq)
        return
    for seq, leaf in ((manifest.first_seq, walk.first_leaf), (manifest.last_seq, walk.last_leaf)):
        proof = _proof_list(proofs.get("inclusion", {}), str(seq))
        if proof is None:
            raise VerifyError(f"{PROOFS_FILE} holds no inclusion proof for it", seq)
        try:
            verify_inclusion(leaf, seq, checkpoint.size, proof, checkpoint.root)
        except ProofError as exc:
            raise VerifyError(f"not included in the signed checkpoint: {exc}", seq) from None


def _verify_trusted_checkpoint(note: str, chain: KeyChain, origin: str) -> Checkpoint:
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


def _verify_manifest(directory: Path, manifest: _Manifest, chain: KeyChain) -> None:
    """The manifest is signed by the current key and lists exactly the files present, with their SHA-256."""
    try:
        signature = base64.b64decode(read_file(directory, MANIFEST_SIG_FILE).strip(), validate=True)
        chain.current.verify(signature, manifest.data)
    except (InvalidSignature, binascii.Error, ValueError):
        raise VerifyError(f"{MANIFEST_SIG_FILE} is not a valid signature of {MANIFEST_FILE} by key {chain.fingerprint}") from None
    listed = manifest.fields.get("files")
    if not isinstance(listed, dict):
        raise VerifyError(f"{MANIFEST_FILE} lists no files")
    present = set(regular_files(directory)) - {MANIFEST_FILE, MANIFEST_SIG_FILE}
    for name in sorted(present - set(listed)):
        raise VerifyError(f"{name} is not listed in the signed manifest")
    for name, digest in sorted(listed.items()):
        if name not in present:
            raise VerifyError(f"{name} is listed in the manifest but missing")
        if sha256_file(directory / name) != digest:
            raise VerifyError(f"{name} does not match its SHA-256 in the signed manifest")


def _field(container: dict[str, Any], name: str, kind: type) -> Any:
    value = container.get(name)
    if type(value) is not kind:
        raise VerifyError(f"{MANIFEST_FILE} field {name!r} is missing or not a {kind.__name__}")
    return value


def _load_public_key(directory: Path) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(read_file(directory, PUBLIC_KEY_FILE))
    except ValueError:
        raise VerifyError(f"{PUBLIC_KEY_FILE} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise VerifyError(f"{PUBLIC_KEY_FILE} is not an Ed25519 public key")
    return key


def _load_heads(directory: Path, first_seq: int, last_seq: int) -> list[dict[str, Any]]:
    heads: list[dict[str, Any]] = []
    for number, head in json_lines(directory, HEADS_FILE):
        seq = head.get("last_seq")
        if type(seq) is not int or not first_seq <= seq <= last_seq or (heads and seq <= heads[-1]["last_seq"]):
            raise VerifyError(f"{HEADS_FILE} line {number}: head seq {seq!r} is out of order or outside the export")
        heads.append(head)
    return heads


def _rotation_evidence(directory: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    last = -1
    for number, item in json_lines(directory, ROTATIONS_FILE):
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
