"""The audit store on PostgreSQL: durable, and one gap-free, fork-free chain from several processes."""
from __future__ import annotations

import secrets
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from audit.export import export_audit
from audit.keys import init_keys
from audit.record import leaf_hash
from audit.store import AuditStore
from audit.verify import verify_export
from tests.conftest_audit import assert_chain_verifies

pytestmark = pytest.mark.postgres
SERVER = "postgres@127.0.0.1:5432/test"


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A URL whose connections see only a fresh schema of their own, dropped afterwards."""
    schema = f"audit_test_{secrets.token_hex(4)}"
    with psycopg.connect(f"postgresql://{SERVER}", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql+psycopg://{SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(f"postgresql://{SERVER}", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture()
def key_dir(tmp_path: Path) -> Path:
    init_keys(tmp_path / "keys")
    return tmp_path / "keys"


def test_append_read_and_reopen(pg_url: str, key_dir: Path) -> None:
    with AuditStore.open(pg_url, key_dir) as store:
        store.append("request", {"request_id": "r1", "actor": "alice"})
        store.append_many([("completion", {"request_id": "r1", "status": 200}), ("request", {"request_id": "r2"})])
        assert store.writable()
    with AuditStore.open(pg_url, key_dir) as store:
        assert store.append("request", {"request_id": "r3"}).seq == 3
        records = assert_chain_verifies(store)
        assert [r["request_id"] for r in records] == ["r1", "r1", "r2", "r3"]
        assert [r["seq"] for r in store.find(request_id="r1")] == [0, 1]


NODE = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from audit.store import AuditStore
    url, key_dir, node, threads, per_thread = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    acknowledged = []
    with AuditStore.open(url, key_dir, checkpoint_every=100) as store:
        def writer(worker):
            for i in range(per_thread):
                result = store.append("request", {"node": node, "worker": worker, "i": i})
                acknowledged.append(f"{result.seq} {result.leaf_hash}")
        pool = [threading.Thread(target=writer, args=(w,)) for w in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    print("\\n".join(acknowledged))
""")


def test_two_processes_build_one_gap_free_fork_free_chain(pg_url: str, key_dir: Path, tmp_path: Path) -> None:
    threads, per_thread = 10, 50
    with AuditStore.open(pg_url, key_dir):
        pass  # tables exist before the race, as on a deployed cluster
    nodes = [
        subprocess.Popen([sys.executable, "-c", NODE, pg_url, str(key_dir), name, str(threads), str(per_thread)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("node-a", "node-b")
    ]
    acknowledged: dict[int, str] = {}
    for node in nodes:
        out, err = node.communicate(timeout=300)
        assert node.returncode == 0, err[-2000:]
        for line in out.splitlines():
            seq, leaf = line.split()
            assert int(seq) not in acknowledged, f"seq {seq} was handed to two appenders (a fork)"
            acknowledged[int(seq)] = leaf

    total = 2 * threads * per_thread
    assert sorted(acknowledged) == list(range(total))
    with AuditStore.open(pg_url, key_dir) as store:
        records = assert_chain_verifies(store)
        assert len(records) == total
        assert {r["seq"]: leaf_hash(r).hex() for r in records} == acknowledged
        by_node = {name: sum(r["node"] == name for r in records) for name in ("node-a", "node-b")}
        assert by_node == {"node-a": total // 2, "node-b": total // 2}
        interleaved = sum(a["node"] != b["node"] for a, b in zip(records, records[1:]))
        assert interleaved > 1, "the nodes did not actually write concurrently"
        assert len(store.read_heads()) < total
        report = verify_export(export_audit(store, tmp_path / "export").directory)
        assert report.records == total + 1 and report.tree_size == total + 1


def test_a_node_catches_up_with_records_of_another_before_proving(pg_url: str, key_dir: Path) -> None:
    with AuditStore.open(pg_url, key_dir) as first, AuditStore.open(pg_url, key_dir) as second:
        first.append_many([("request", {"n": i}) for i in range(5)])
        assert second.append("request", {"n": 5}).seq == 5
        records = assert_chain_verifies(first)
        assert records[5]["prev"] == leaf_hash(records[4]).hex()
        assert first.inclusion_proof(5) == second.inclusion_proof(5)
        assert first.consistency_proof(3) == second.consistency_proof(3)


def test_rotation_on_one_node_is_adopted_by_another_sharing_the_key_dir(pg_url: str, key_dir: Path, tmp_path: Path) -> None:
    with AuditStore.open(pg_url, key_dir) as first, AuditStore.open(pg_url, key_dir) as second:
        first.append("request", {"n": 0})
        old = first.signing_fingerprint
        new = first.rotate_key()
        second.append("request", {"n": 1})  # second still held the old key in memory
        assert second.signing_fingerprint == new
        assert [head["key_fingerprint"] for head in second.read_heads()] == [old, old, new]
        assert_chain_verifies(second)
        assert verify_export(export_audit(second, tmp_path / "export").directory).key_rotations == 1

