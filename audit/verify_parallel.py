"""The verifier's record walk spread over worker processes, for big exports (standard library only).

Workers parse and hash runs of whole lines with the same rules as the sequential walk
(`audit.verify_rules`); the parent checks the links between them, the heads and the rotations. It only
ever accepts: anything it doubts returns None, and the sequential walk judges and names the first broken
record exactly.
"""
from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generator

from audit.format import GENESIS_PREV, HASH_SIZE, RECORDS_FILE, leaf_hash_of_bytes
from audit.merkle import MerkleTree
from audit.verify_files import MAX_HASHED_FILE, MAX_RECORD_LINE, VerifyError, open_regular
from audit.verify_rules import KeyChain, Walk, check_seq, claimed_prev, is_rotation, read_record, record_ts

PARALLEL_MIN_BYTES = 16 << 20  # smaller record files verify faster than worker processes start
CHUNKS_PER_WORKER = 4


@dataclass
class ChunkScan:
    """What a worker found in a run of whole lines of the records file; clean=False: judge sequentially."""

    clean: bool
    first_seq: int = -1
    count: int = 0
    leaves: bytes = b""  # HASH_SIZE bytes per record
    prevs: str = ""  # 64 hex digits per record, as written
    rotations: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    first_ts: str = ""
    last_ts: str = ""


def scan_chunk(path: str, start: int, end: int) -> ChunkScan:
    """Parse and hash the lines in bytes [start, end) of `path` (runs in a worker process)."""
    with open_regular(Path(path), MAX_HASHED_FILE) as stream:
        stream.seek(start)
        lines = io.BytesIO(stream.read(end - start))
    leaves: list[bytes] = []
    prevs: list[str] = []
    rotations: list[tuple[int, dict[str, Any]]] = []
    seq, first_ts, last_ts = -1, "", ""
    try:
        for raw in iter(lambda: lines.readline(MAX_RECORD_LINE + 1), b""):
            record, line = read_record(raw, seq)
            if not leaves:  # the chunk's first record says where the chunk starts
                seq = record["seq"] if type(record.get("seq")) is int else -1
            check_seq(record, seq)
            prev = claimed_prev(record)
            if prev is None:
                return ChunkScan(clean=False)
            leaves.append(leaf_hash_of_bytes(line))
            prevs.append(prev)
            if is_rotation(record):
                rotations.append((seq, record))
            last_ts = record_ts(record)
            first_ts = first_ts or last_ts
            seq += 1
    except VerifyError:
        return ChunkScan(clean=False)
    if not leaves:
        return ChunkScan(clean=False)
    return ChunkScan(True, seq - len(leaves), len(leaves), b"".join(leaves), "".join(prevs), rotations, first_ts, last_ts)


def chunk_bounds(path: Path, chunks: int) -> list[tuple[int, int]]:
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
    return [(start, end) for start, end in zip(bounds, bounds[1:], strict=False) if end > start]


def start_method() -> str:
    """fork where it is safe (Linux, no other threads that could hold a lock the child inherits), else spawn."""
    return "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"


class _ChunkJoiner:
    """Joins the workers' chunks in order: links between them, heads and rotations against the key chain."""

    def __init__(self, first_seq: int, heads: list[dict[str, Any]], chain: KeyChain, tree: MerkleTree | None) -> None:
        self.walk = Walk(last_seq=first_seq - 1)
        self.expected_prev = GENESIS_PREV if first_seq == 0 else None
        self.heads, self.head_index, self.chain, self.tree = heads, 0, chain, tree
        self.rotations: list[tuple[int, dict[str, Any]]] = []

    def join(self, scan: ChunkScan) -> bool:
        """Take the next chunk; False when anything about it is in doubt."""
        if not scan.clean or scan.first_seq != self.walk.last_seq + 1:
            return False
        leaf_hex = scan.leaves.hex()
        if scan.prevs[64:] != leaf_hex[:-64] or (self.expected_prev is not None and scan.prevs[:64] != self.expected_prev):
            return False
        self.expected_prev = leaf_hex[-64:]
        self.rotations += scan.rotations
        last_seq = scan.first_seq + scan.count - 1
        try:
            self._check_heads(scan, last_seq)
        except VerifyError:
            return False
        if self.tree is not None:
            self.tree.extend(scan.leaves[i:i + HASH_SIZE] for i in range(0, len(scan.leaves), HASH_SIZE))
        self.walk.add(scan.count, last_seq, scan.leaves[:HASH_SIZE], scan.leaves[-HASH_SIZE:], scan.first_ts, scan.last_ts)
        return True

    def _check_heads(self, scan: ChunkScan, last_seq: int) -> None:
        """The heads ending in this chunk, each after the rotations it covers were announced."""
        heads = self.heads
        while self.head_index < len(heads) and heads[self.head_index]["last_seq"] <= last_seq:
            head_seq = heads[self.head_index]["last_seq"]
            while self.rotations and self.rotations[0][0] <= head_seq:
                self.chain.announce(*self.rotations.pop(0))
            offset = (head_seq - scan.first_seq) * HASH_SIZE
            self.chain.check_head(heads[self.head_index], scan.leaves[offset:offset + HASH_SIZE])
            self.head_index += 1

    def finish(self) -> Walk | None:
        """The walk, once the rotations after the last head are announced; None when in doubt."""
        try:
            for seq, record in self.rotations:
                self.chain.announce(seq, record)
        except VerifyError:
            return None
        return self.walk if self.walk.count else None


def walk_records_in_parallel(
    directory: Path, first_seq: int, heads: list[dict[str, Any]], chain: KeyChain, tree: MerkleTree | None,
    workers: int | None,
) -> Walk | None:
    """The sequential walk's result, with the parsing and hashing spread over worker processes; None when
    the export is small (`workers` None: below PARALLEL_MIN_BYTES) or anything is in doubt."""
    path = directory / RECORDS_FILE
    regular = path.is_file() and not path.is_symlink()
    if workers is None:
        workers = os.cpu_count() or 1
        if not regular or path.stat().st_size < PARALLEL_MIN_BYTES:
            return None
    bounds = chunk_bounds(path, workers * CHUNKS_PER_WORKER) if workers >= 2 and regular else []
    if not bounds:
        return None
    joiner = _ChunkJoiner(first_seq, heads, chain, tree)
    with contextlib.closing(_scans(path, bounds, workers)) as scans:
        if not all(joiner.join(scan) for scan in scans):
            return None
    return joiner.finish()


def _scans(path: Path, bounds: list[tuple[int, int]], workers: int) -> Generator[ChunkScan, None, None]:
    """The chunks' scans in file order; chunks not yet started are dropped when the caller stops early."""
    context = multiprocessing.get_context(start_method())
    pool = ProcessPoolExecutor(max_workers=min(workers, len(bounds)), mp_context=context)
    try:
        yield from pool.map(scan_chunk, [str(path)] * len(bounds), *zip(*bounds, strict=True))
    finally:
        pool.shutdown(cancel_futures=True)  # on a doubt, chunks not yet started are not worth scanning
