"""RFC 6962 / RFC 9162 Merkle trees over SHA-256: roots, inclusion and consistency proofs.

Leaves are given as their leaf hashes; leaf and node hashing and the empty tree's root are
`audit.format`'s (SHA-256(0x00 || data), SHA-256(0x01 || left || right), SHA-256(b"")).
`MerkleTree` keeps every complete subtree hash, level by level, in contiguous bytearrays, so
appending is amortised O(1) and the root or a proof for any earlier size is O(log^2 n).
Standard library only: the offline verifier imports this module.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from audit.format import EMPTY_ROOT, HASH_SIZE, node_hash


class ProofError(ValueError):
    """A Merkle proof (or the request for one) is invalid; the message says why."""


def _split(size: int) -> int:
    """The largest power of two strictly smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


class MerkleTree:
    """An append-only Merkle tree that answers roots and proofs for its current or any earlier size."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.extend(leaves)

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return len(self._levels[0]) // HASH_SIZE

    def __len__(self) -> int:
        return self.size

    def leaf(self, index: int) -> bytes:
        """The leaf hash at `index`."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} outside tree of size {self.size}")
        return self._node(0, index)

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash (32 bytes), completing every subtree it closes."""
        self.extend((leaf_hash,))

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append several leaf hashes in order, level by level: each new node hashed once, from slices of
        the level below."""
        leaves = list(leaf_hashes)
        for leaf in leaves:
            if len(leaf) != HASH_SIZE:
                raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        levels, level, added = self._levels, 0, b"".join(leaves)
        pair = 2 * HASH_SIZE
        while added:
            nodes = levels[level]
            first_parent = len(nodes) // pair  # the first pair the added nodes may complete
            nodes += added
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            added = b"".join(
                node_hash(nodes[start:start + HASH_SIZE], nodes[start + HASH_SIZE:start + pair])
                for start in range(first_parent * pair, len(nodes) - pair + 1, pair)
            )
        if len(levels) > 1 and not levels[-1]:
            levels.pop()

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the tree's first `size` leaves (default: all)."""
        size = self._check_size(size)
        return self._subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path (RFC 9162 2.1.3.1) of leaf `index` in the tree of the first `size` leaves."""
        size = self._check_size(size)
        if not 0 <= index < size:
            raise ProofError(f"leaf index {index} outside tree of size {size}")
        return self._path(index, 0, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof (RFC 9162 2.1.4.1) from tree size `old_size` to `new_size`."""
        new_size = self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ProofError(f"old size {old_size} must be between 0 and new size {new_size}")
        if old_size in (0, new_size):
            return []
        return self._subproof(old_size, 0, new_size, True)

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} outside 0..{self.size}")
        return size

    def _node(self, level: int, index: int) -> bytes:
        start = index * HASH_SIZE
        return bytes(self._levels[level][start:start + HASH_SIZE])

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a subtree of the RFC decomposition (start aligned to its left part)."""
        width = end - start
        if width & (width - 1) == 0 and start % width == 0:
            return self._node(width.bit_length() - 1, start // width)
        k = _split(width)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def _path(self, index: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = _split(end - start)
        if index < start + k:
            return self._path(index, start, start + k) + [self._subtree(start + k, end)]
        return self._path(index, start + k, end) + [self._subtree(start, start + k)]

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        width = end - start
        if m == width:
            return [] if whole else [self._subtree(start, end)]
        k = _split(width)
        if m <= k:
            return self._subproof(m, start, start + k, whole) + [self._subtree(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self._subtree(start, start + k)]


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """Root hash of the tree over `leaves` (leaf hashes)."""
    return MerkleTree(leaves).root()


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    """Inclusion proof of leaf `index` in the tree over the first `size` of `leaves`."""
    return MerkleTree(leaves[:size] if size is not None else leaves).inclusion_proof(index)


def consistency_proof(leaves: Sequence[bytes], old_size: int, new_size: int | None = None) -> list[bytes]:
    """Consistency proof from `old_size` to `new_size` (default: all) of the tree over `leaves`."""
    tree = MerkleTree(leaves[:new_size] if new_size is not None else leaves)
    return tree.consistency_proof(old_size)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `size` with `root` (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} outside tree of size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf_hash)}")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("inclusion proof does not lead to the expected root")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree (size2, root2) extends the tree (size1, root1) (RFC 9162 2.1.4.2)."""
    if size1 < 0 or size2 < size1:
        raise ProofError(f"tree size {size2} is smaller than earlier size {size1}")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("sizes are equal but the consistency proof is not empty")
        if root1 != root2:
            raise ProofError("sizes are equal but the roots differ")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than expected")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than expected")
    if fr != root1:
        raise ProofError("consistency proof does not match the earlier root")
    if sr != root2:
        raise ProofError("consistency proof does not match the later root")
