"""Helpers shared by the audit store tests: a fresh store, and a full independent check of its chain."""
from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import psycopg

from audit.export import export_audit
from audit.keys import init_keys
from audit.checkpoint import verify_head
from audit.format import GENESIS_PREV, leaf_hash
from audit.log import AuditLog
from audit.verify import verify_export


PG_SERVER = "postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def fresh_pg_schema(prefix: str) -> Iterator[str]:
    """A PostgreSQL URL whose connections see only a new schema of their own, dropped afterwards."""
    schema = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(f"postgresql://{PG_SERVER}", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"postgresql+psycopg://{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(f"postgresql://{PG_SERVER}", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def new_store(tmp_path: Path, **options: object) -> AuditLog:
    """A store on a new SQLite file with new keys under `tmp_path`."""
    key_dir = tmp_path / "keys"
    if not key_dir.exists():
        init_keys(key_dir)
    return AuditLog.open(f"sqlite:///{tmp_path / 'audit.db'}", key_dir, **options)  # type: ignore[arg-type]


def assert_chain_verifies(store: AuditLog) -> list[dict]:
    """Check seqs, prev links and every head signature independently of the store; returns the records."""
    records = store.reader.read_records()
    assert [r["seq"] for r in records] == list(range(len(records))), "seq numbers have a gap or are out of order"
    previous = GENESIS_PREV
    leaves = []
    for record in records:
        assert record["prev"] == previous, f"record {record['seq']} does not link to its predecessor"
        previous = leaf_hash(record).hex()
        leaves.append(previous)
    heads = store.reader.read_heads()
    keys = store.reader.public_keys()
    assert heads, "no head signatures"
    assert heads[-1]["last_seq"] == len(records) - 1, "the last records are not covered by a signed head"
    for head in heads:
        assert head["leaf"] == leaves[head["last_seq"]]
        key = keys[head["key_fingerprint"]]
        assert verify_head(key, head["last_seq"], bytes.fromhex(head["leaf"]), head["signature"])
    return records


NODE = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    from audit.log import AuditLog
    url, key_dir, node, threads, per_thread = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    pause = float(sys.argv[6])
    acknowledged = []
    with AuditLog.open(url, key_dir, checkpoint_every=100) as store:
        print("ready", flush=True)
        sys.stdin.readline()  # both nodes start writing at once
        def writer(worker):
            for i in range(per_thread):
                result = store.append("request", {"node": node, "worker": worker, "i": i})
                acknowledged.append(f"{result.seq} {result.leaf_hash}")
                time.sleep(pause)
        pool = [threading.Thread(target=writer, args=(w,)) for w in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    print("\\n".join(acknowledged))
""")


def assert_two_processes_build_one_chain(
    url: str, key_dir: Path, tmp_path: Path, threads: int = 10, per_thread: int = 50, pause: float = 0.0
) -> None:
    """Two OS processes append concurrently to the log at `url`: every acknowledged record is there once,
    in one gap-free chain that verifies, and the processes really interleaved. Each writer thread waits
    `pause` seconds after each append (a process that never lets go of SQLite's lock starves the other)."""
    with AuditLog.open(url, key_dir):
        pass  # tables exist before the race, as on a deployed cluster
    nodes = [
        subprocess.Popen([sys.executable, "-c", NODE, url, str(key_dir), name, str(threads), str(per_thread), str(pause)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("node-a", "node-b")
    ]
    for node in nodes:
        assert node.stdout is not None and node.stdout.readline() == "ready\n", "a node did not open the store"
    for node in nodes:
        assert node.stdin is not None
        node.stdin.write("go\n")
        node.stdin.flush()
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
    with AuditLog.open(url, key_dir) as store:
        records = assert_chain_verifies(store)
        assert len(records) == total
        assert {r["seq"]: leaf_hash(r).hex() for r in records} == acknowledged
        by_node = {name: sum(r["node"] == name for r in records) for name in ("node-a", "node-b")}
        assert by_node == {"node-a": total // 2, "node-b": total // 2}
        interleaved = sum(a["node"] != b["node"] for a, b in zip(records, records[1:]))
        assert interleaved > 1, "the nodes did not actually write concurrently"
        assert len(store.reader.read_heads()) < total
        report = verify_export(export_audit(store, tmp_path / "export").directory)
        assert report.records == total + 1 and report.tree_size == total + 1
