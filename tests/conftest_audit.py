"""Helpers shared by the audit store tests: a fresh store, and a full independent check of its chain."""
from __future__ import annotations

from pathlib import Path

from audit.keys import init_keys
from audit.record import GENESIS_PREV, leaf_hash, verify_head
from audit.store import AuditStore


def new_store(tmp_path: Path, **options: object) -> AuditStore:
    """A store on a new SQLite file with new keys under `tmp_path`."""
    key_dir = tmp_path / "keys"
    if not key_dir.exists():
        init_keys(key_dir)
    return AuditStore.open(f"sqlite:///{tmp_path / 'audit.db'}", key_dir, **options)  # type: ignore[arg-type]


def assert_chain_verifies(store: AuditStore) -> list[dict]:
    """Check seqs, prev links and every head signature independently of the store; returns the records."""
    records = store.read_records()
    assert [r["seq"] for r in records] == list(range(len(records))), "seq numbers have a gap or are out of order"
    previous = GENESIS_PREV
    leaves = []
    for record in records:
        assert record["prev"] == previous, f"record {record['seq']} does not link to its predecessor"
        previous = leaf_hash(record).hex()
        leaves.append(previous)
    heads = store.read_heads()
    keys = store.public_keys()
    assert heads, "no head signatures"
    assert heads[-1]["last_seq"] == len(records) - 1, "the last records are not covered by a signed head"
    for head in heads:
        assert head["leaf"] == leaves[head["last_seq"]]
        key = keys[head["key_fingerprint"]]
        assert verify_head(key, head["last_seq"], bytes.fromhex(head["leaf"]), head["signature"])
    return records
