"""The Merkle proof code against the public RFC 6962 conformance cases and against itself."""
from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest

from audit.format import EMPTY_ROOT, node_hash
from audit.merkle import (
    MerkleTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# The public RFC 6962 cases (transparency-dev/merkle testdata, Apache 2.0), copied unchanged from
# shared/vectors so a clone anywhere runs them; provenance in the folder's README.
VECTORS_DIR = Path(__file__).resolve().parent / "data/rfc6962"
VECTOR_FILES = sorted(VECTORS_DIR.rglob("*.json"))
MAX_LEAVES = 64


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _run_vector(case: dict) -> None:
    proof = [_b64(item) for item in case["proof"] or []]
    if "leafIdx" in case:
        verify_inclusion(_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], proof, _b64(case["root"]))
    else:
        verify_consistency(case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), proof)


def test_vector_directory_is_present_and_complete() -> None:
    assert VECTORS_DIR.is_dir(), f"RFC 6962 vectors missing at {VECTORS_DIR}"
    kinds = {path.relative_to(VECTORS_DIR).parts[0] for path in VECTOR_FILES}
    assert kinds == {"inclusion", "consistency"}
    assert len(VECTOR_FILES) > 100


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: str(p.relative_to(VECTORS_DIR)))
def test_rfc6962_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    if case["wantErr"]:
        with pytest.raises(ProofError):
            _run_vector(case)
    else:
        _run_vector(case)


def _leaves(count: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + f"leaf {i}".encode()).digest() for i in range(count)]


def _reference_root(leaves: list[bytes]) -> bytes:
    """MTH straight from the RFC 6962 definition, recursion and all."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


def _flip_each_byte(proof: list[bytes]):
    for i, item in enumerate(proof):
        for j in range(len(item)):
            broken = bytearray(item)
            broken[j] ^= 0x01
            yield proof[:i] + [bytes(broken)] + proof[i + 1:]


LEAVES = _leaves(MAX_LEAVES)
TREE = MerkleTree(LEAVES)


def test_roots_match_the_rfc_definition_for_every_size() -> None:
    assert MerkleTree().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()
    for size in range(MAX_LEAVES + 1):
        assert TREE.root(size) == _reference_root(LEAVES[:size]) == root_hash(LEAVES[:size])


def test_incremental_tree_matches_one_built_at_once() -> None:
    grown = MerkleTree()
    for size, leaf in enumerate(LEAVES, start=1):
        grown.append(leaf)
        assert grown.root() == TREE.root(size)
        assert grown.size == size


def test_a_tree_grown_in_batches_of_any_size_answers_like_one_grown_leaf_by_leaf() -> None:
    chunkings = random.Random(6962)
    for _ in range(50):
        grown, size = MerkleTree(), 0
        while size < MAX_LEAVES:
            batch = LEAVES[size:size + chunkings.choice([0, 1, 2, 3, 5, 8, 13, 31, 64])]
            grown.extend(batch)
            size += len(batch)
            assert grown.size == size and grown.root() == TREE.root(size)
            if size:
                assert grown.inclusion_proof(size - 1) == TREE.inclusion_proof(size - 1, size)
                assert grown.consistency_proof(size // 2) == TREE.consistency_proof(size // 2, size)
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleTree().extend([LEAVES[0], b"short"])


@pytest.mark.parametrize("size", range(1, MAX_LEAVES + 1))
def test_inclusion_proofs_verify_and_fail_on_any_flipped_byte(size: int) -> None:
    root = TREE.root(size)
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        assert proof == inclusion_proof(LEAVES, index, size)
        verify_inclusion(LEAVES[index], index, size, proof, root)
        for broken in _flip_each_byte(proof):
            with pytest.raises(ProofError):
                verify_inclusion(LEAVES[index], index, size, broken, root)
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[index], index, size, proof, TREE.root(size - 1))
        if size > 1:
            with pytest.raises(ProofError):
                verify_inclusion(LEAVES[(index + 1) % size], index, size, proof, root)


@pytest.mark.parametrize("new_size", range(1, MAX_LEAVES + 1))
def test_consistency_proofs_verify_and_fail_on_any_flipped_byte(new_size: int) -> None:
    new_root = TREE.root(new_size)
    for old_size in range(1, new_size + 1):
        proof = TREE.consistency_proof(old_size, new_size)
        assert proof == consistency_proof(LEAVES, old_size, new_size)
        old_root = TREE.root(old_size)
        verify_consistency(old_size, new_size, old_root, new_root, proof)
        for broken in _flip_each_byte(proof):
            with pytest.raises(ProofError):
                verify_consistency(old_size, new_size, old_root, new_root, broken)
        if old_size < new_size:
            with pytest.raises(ProofError):
                verify_consistency(old_size, new_size, TREE.root(old_size + 1), new_root, proof)
            with pytest.raises(ProofError):
                verify_consistency(old_size, new_size, old_root, TREE.root(new_size - 1), proof)


def test_forked_history_is_not_consistent() -> None:
    forked = MerkleTree(LEAVES[:10] + _leaves(1) + LEAVES[11:40])
    proof = forked.consistency_proof(20, 40)
    with pytest.raises(ProofError):
        verify_consistency(20, 40, TREE.root(20), forked.root(40), proof)


def test_bad_requests_are_refused_with_a_reason() -> None:
    with pytest.raises(ProofError, match="outside"):
        TREE.inclusion_proof(MAX_LEAVES, MAX_LEAVES)
    with pytest.raises(ProofError, match="outside"):
        TREE.root(MAX_LEAVES + 1)
    with pytest.raises(ProofError, match="between"):
        TREE.consistency_proof(10, 5)
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleTree().append(b"short")
