"""The audit store on PostgreSQL: durable, and one gap-free, fork-free chain from several processes."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from audit.errors import AuditUnavailable
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



def test_a_database_fault_during_an_export_is_the_stores_error(pg_url: str, key_dir: Path, tmp_path: Path) -> None:
    """A DBA renames the records table while an export runs (a trigger does it the moment the export's
    checkpoint is stored, before the slice is read): the export stops with the store's own one-line error
    naming the database's reason, not a driver exception, and leaves nothing behind; once the table is
    back, the same export succeeds and verifies."""
    sql = psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    with sql, AuditLog.open(pg_url, key_dir) as store:
        store.append_many([("request", {"n": i}) for i in range(5)])
        sql.execute("CREATE FUNCTION hide_records() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "ALTER TABLE audit_records RENAME TO audit_records_hidden; RETURN NEW; END $$")
        sql.execute("CREATE TRIGGER hide_records AFTER INSERT ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION hide_records()")
        with pytest.raises(AuditUnavailable) as refused:
            export_audit(store, tmp_path / "export")
        assert str(refused.value).startswith("audit store unavailable: UndefinedTable: ")
        assert "audit_records" in str(refused.value) and "\n" not in str(refused.value)
        assert not (tmp_path / "export").exists()
        sql.execute("DROP TRIGGER hide_records ON audit_checkpoints")
        sql.execute("ALTER TABLE audit_records_hidden RENAME TO audit_records")
        report = verify_export(export_audit(store, tmp_path / "export").directory)
        assert report.records == 7  # the five, and both exports' announcements
