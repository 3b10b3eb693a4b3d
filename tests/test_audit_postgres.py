"""The audit store on PostgreSQL: durable, and one gap-free, fork-free chain from several processes."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from audit.export import export_audit
from audit.keys import init_keys
from audit.format import leaf_hash
from audit.log import AuditLog
from audit.verify import verify_export
from tests.conftest_audit import assert_chain_verifies, assert_two_processes_build_one_chain, fresh_pg_schema

pytestmark = pytest.mark.postgres


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A URL whose connections see only a fresh schema of their own, dropped afterwards."""
    with fresh_pg_schema("audit_test") as url:
        yield url


@pytest.fixture()
def key_dir(tmp_path: Path) -> Path:
    init_keys(tmp_path / "keys")
    return tmp_path / "keys"


def test_append_read_and_reopen(pg_url: str, key_dir: Path) -> None:
    with AuditLog.open(pg_url, key_dir) as store:
        store.append("request", {"request_id": "r1", "actor": "alice"})
        store.append_many([("completion", {"request_id": "r1", "status": 200}), ("request", {"request_id": "r2"})])
        assert store.writable()
    with AuditLog.open(pg_url, key_dir) as store:
        assert store.append("request", {"request_id": "r3"}).seq == 3
        records = assert_chain_verifies(store)
        assert [r["request_id"] for r in records] == ["r1", "r1", "r2", "r3"]
        assert [r["seq"] for r in store.reader.find(request_id="r1")] == [0, 1]


def test_two_processes_build_one_gap_free_fork_free_chain(pg_url: str, key_dir: Path, tmp_path: Path) -> None:
    assert_two_processes_build_one_chain(pg_url, key_dir, tmp_path)


def test_a_node_catches_up_with_records_of_another_before_proving(pg_url: str, key_dir: Path) -> None:
    with AuditLog.open(pg_url, key_dir) as first, AuditLog.open(pg_url, key_dir) as second:
        first.append_many([("request", {"n": i}) for i in range(5)])
        assert second.append("request", {"n": 5}).seq == 5
        records = assert_chain_verifies(first)
        assert records[5]["prev"] == leaf_hash(records[4]).hex()
        assert first.reader.inclusion_proof(5) == second.reader.inclusion_proof(5)
        assert first.reader.consistency_proof(3) == second.reader.consistency_proof(3)


def test_rotation_on_one_node_is_adopted_by_another_sharing_the_key_dir(pg_url: str, key_dir: Path, tmp_path: Path) -> None:
    with AuditLog.open(pg_url, key_dir) as first, AuditLog.open(pg_url, key_dir) as second:
        first.append("request", {"n": 0})
        old = first.signing_fingerprint
        new = first.rotate_key()
        second.append("request", {"n": 1})  # second still held the old key in memory
        assert second.signing_fingerprint == new
        assert [head["key_fingerprint"] for head in second.reader.read_heads()] == [old, old, new]
        assert_chain_verifies(second)
        assert verify_export(export_audit(second, tmp_path / "export").directory).key_rotations == 1

