"""Tail truncation: records deleted from the end of the log (by someone with database access) are noticed.

At open the log must extend the newest checkpoint in the database and the one kept beside the keys; a
commit that finds the tail shorter than the log already was is refused. Repair is a restored database
(recorded at the next open) or an accepted loss (recorded too). SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from audit.checkpoint import parse_body, sign_checkpoint, split_note
from audit.export import export_audit
from audit.keys import init_keys
from audit.errors import AuditUnavailable
from audit.log import AuditLog
from audit.tail_anchor import LogTailMismatch, TailWitnesses
from audit.verify import verify_export
from tests.appliance_server import init_data_dir, run_cli
from tests.conftest_audit import assert_chain_verifies, fresh_pg_schema

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh log: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    with fresh_pg_schema("audit_tail") as pg_url:
        yield pg_url


@pytest.fixture()
def key_dir(tmp_path: Path) -> Path:
    init_keys(tmp_path / "keys")
    return tmp_path / "keys"


def dba(url: str, statement: str, **params: object) -> list[tuple]:
    """Run SQL straight against the database, as an administrator would, bypassing the appliance."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def write_log(url: str, key_dir: Path, records: int) -> None:
    with AuditLog.open(url, key_dir, checkpoint_every=10) as store:
        for i in range(records):
            store.append("request", {"request_id": f"r{i}", "actor": "alice"})


def kept_size(url: str, key_dir: Path) -> int:
    return parse_body(split_note(TailWitnesses(key_dir, url).kept_path.read_text())[0]).size


def test_deleting_the_tail_is_refused_at_open_with_one_line(url: str, key_dir: Path) -> None:
    write_log(url, key_dir, 30)
    assert kept_size(url, key_dir) == 30  # closing signed a checkpoint over everything, kept beside the keys too
    dba(url, "DELETE FROM audit_records WHERE seq >= 25")
    with pytest.raises(LogTailMismatch) as refused:
        AuditLog.open(url, key_dir)
    message = str(refused.value)
    assert "\n" not in message
    assert "audit log truncated: it holds 25 records but" in message and "covers 30" in message
    assert "records 25..29 were deleted" in message and "appliance audit accept-loss" in message
    with pytest.raises(LogTailMismatch):  # and it stays refused
        AuditLog.open(url, key_dir)


def test_deleting_the_checkpoints_too_is_caught_by_the_checkpoint_kept_beside_the_keys(url: str, key_dir: Path) -> None:
    write_log(url, key_dir, 30)
    dba(url, "DELETE FROM audit_records WHERE seq >= 25")
    dba(url, "DELETE FROM audit_checkpoints WHERE size > 25")
    with pytest.raises(LogTailMismatch, match=f"but the checkpoint kept at {TailWitnesses(key_dir, url).kept_path} covers 30"):
        AuditLog.open(url, key_dir)


def test_rewritten_records_under_a_checkpoint_are_refused(url: str, key_dir: Path) -> None:
    write_log(url, key_dir, 12)
    dba(url, "UPDATE audit_records SET leaf = :leaf WHERE seq = 3", leaf="ab" * 32)
    with pytest.raises(LogTailMismatch, match="audit log rewritten: its first 12 records do not match"):
        AuditLog.open(url, key_dir)


def test_a_restored_database_opens_and_the_repair_is_recorded(url: str, key_dir: Path) -> None:
    write_log(url, key_dir, 30)
    columns = "seq, ts, kind, request_id, actor, body, leaf, group_first_seq, key_fingerprint, signature"
    backup = dba(url, f"SELECT {columns} FROM audit_records WHERE seq >= 25")
    dba(url, "DELETE FROM audit_records WHERE seq >= 25")
    with pytest.raises(LogTailMismatch):
        AuditLog.open(url, key_dir)
    assert TailWitnesses(key_dir, url).incident_path.exists()
    for row in backup:  # the operator restores the lost rows from a backup
        names = columns.split(", ")
        dba(url, f"INSERT INTO audit_records ({columns}) VALUES ({', '.join(':' + n for n in names)})", **dict(zip(names, row)))
    with AuditLog.open(url, key_dir) as store:
        assert store.tail_settlement is not None and store.tail_settlement["event"] == "restored"
        [record] = store.reader.find(kind="audit_integrity")
        assert record["seq"] == 30 and record["expected_size"] == 30 and "truncated" in record["reason"]
        assert_chain_verifies(store)
    assert not TailWitnesses(key_dir, url).incident_path.exists()
    with AuditLog.open(url, key_dir) as store:  # settled once
        assert store.tail_settlement is None and len(store.reader.find(kind="audit_integrity")) == 1


def test_an_accepted_loss_is_recorded_and_the_log_carries_on_verifiably(url: str, key_dir: Path, tmp_path: Path) -> None:
    write_log(url, key_dir, 30)
    dba(url, "DELETE FROM audit_records WHERE seq >= 25")
    with pytest.raises(LogTailMismatch):
        AuditLog.open(url, key_dir)
    with AuditLog.open(url, key_dir, accept_loss=True) as store:
        settled = store.tail_settlement
        assert settled is not None and settled["event"] == "loss_accepted" and settled["seq"] == 25
        [record] = store.reader.find(kind="audit_integrity")
        assert record["log_size"] == 25 and record["expected_size"] == 30
        assert [parse_body(split_note(note)[0]).size for note in record["void_checkpoints"]] == [30]
        store.append("request", {"request_id": "after"})
    with AuditLog.open(url, key_dir) as store:  # settled: opens without accepting again
        assert store.tail_settlement is None
        assert_chain_verifies(store)
        export = export_audit(store, tmp_path / "export").directory
    assert verify_export(export).records == 28  # 25 kept, audit_integrity, "after", export
    assert kept_size(url, key_dir) == 28


def test_a_tail_deleted_while_open_is_refused_at_the_next_commit_and_after(url: str, key_dir: Path) -> None:
    store = AuditLog.open(url, key_dir, checkpoint_every=1000)
    try:
        store.append_many([("request", {"n": i}) for i in range(10)])
        dba(url, "DELETE FROM audit_records WHERE seq >= 6")
        with pytest.raises(AuditUnavailable, match="truncated while open: the database holds 6 records but already held 10"):
            store.append("request", {"n": 10})
        assert store.reader.size() == 6  # the seqs were not reused
    finally:
        store.close()
    with pytest.raises(LogTailMismatch, match="audit log truncated: it holds 6 records"):
        AuditLog.open(url, key_dir)


def test_an_older_kept_checkpoint_is_fine_when_another_node_advanced_the_log(url: str, key_dir: Path, tmp_path: Path) -> None:
    write_log(url, key_dir, 10)
    other_node = tmp_path / "node-b-keys"
    shutil.copytree(key_dir, other_node)  # every node holds the same keys (README: copy D/keys/)
    write_log(url, other_node, 15)
    assert kept_size(url, key_dir) == 10 and kept_size(url, other_node) == 25
    with AuditLog.open(url, key_dir) as store:  # behind, but the log extends it
        assert store.reader.size() == 25 and store.tail_settlement is None
    assert kept_size(url, key_dir) == 25  # it took up the database's newest checkpoint once verified


def test_a_kept_checkpoint_signed_by_a_stranger_is_refused(url: str, key_dir: Path) -> None:
    write_log(url, key_dir, 5)
    stranger = sign_checkpoint("appliance.local/audit", 5, b"\x01" * 32, Ed25519PrivateKey.generate(), "appliance.local/audit")
    TailWitnesses(key_dir, url).kept_path.write_text(stranger)
    with pytest.raises(LogTailMismatch, match="is not signed by any key of this log"):
        AuditLog.open(url, key_dir)


def test_cli_refuses_a_truncated_log_in_one_line_and_accept_loss_records_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init_data_dir(data_dir)
    url = f"sqlite:///{data_dir / 'audit.db'}"
    size = dba(url, "SELECT COUNT(*) FROM audit_records")[0][0]
    dba(url, "DELETE FROM audit_records WHERE seq >= :cut", cut=size - 2)
    refused = run_cli("audit", "export", "--out", str(tmp_path / "export"), data_dir=data_dir, check=False)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("error: audit store cannot open")
    assert f"it holds {size - 2} records" in refused.stderr and "accept-loss" in refused.stderr

    accepted = run_cli("audit", "accept-loss", data_dir=data_dir)
    assert f"loss recorded (record {size - 2})" in accepted.stdout
    run_cli("audit", "export", "--out", str(tmp_path / "export"), data_dir=data_dir)
    assert "nothing to accept" in run_cli("audit", "accept-loss", data_dir=data_dir).stdout


NODE_THAT_CRASHES = """
import os, sys
from pathlib import Path
from audit.errors import AuditUnavailable
from audit.log import AuditLog
store = AuditLog.open(sys.argv[1], Path(sys.argv[2]), checkpoint_every=1000)
store.append_many([("request", {"n": i}) for i in range(10)])
print("written", flush=True)
sys.stdin.readline()  # the DBA deletes the tail now
try:
    store.append("request", {"n": 10})
except AuditUnavailable as exc:
    print(exc, flush=True)
os._exit(0)  # a crash: no closing checkpoint
"""


def test_a_crash_after_a_refused_commit_does_not_let_the_shorter_log_through(url: str, key_dir: Path) -> None:
    node = subprocess.Popen([sys.executable, "-c", NODE_THAT_CRASHES, url, str(key_dir)], cwd=REPO, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert node.stdout is not None and node.stdin is not None
    assert node.stdout.readline().strip() == "written"
    dba(url, "DELETE FROM audit_records WHERE seq >= 6")
    node.stdin.write("\n")
    node.stdin.flush()
    assert "truncated while open" in node.stdout.readline()
    assert node.wait(timeout=60) == 0
    assert not TailWitnesses(key_dir, url).kept_path.exists()  # no checkpoint covered the lost records...
    with pytest.raises(LogTailMismatch, match="it holds 6 records but held 10 when this was found"):
        AuditLog.open(url, key_dir)  # ... the incident beside the keys remembers them


def test_keys_that_served_another_database_start_a_new_log_there(key_dir: Path, tmp_path: Path) -> None:
    """Moving a node from SQLite to PostgreSQL starts a new log: the old log's kept checkpoint is not its."""
    write_log(f"sqlite:///{tmp_path / 'old.db'}", key_dir, 12)
    with AuditLog.open(f"sqlite:///{tmp_path / 'new.db'}", key_dir) as store:
        assert store.reader.size() == 0 and store.tail_settlement is None
    with pytest.raises(LogTailMismatch):  # while the old database, emptied, is still caught
        dba(f"sqlite:///{tmp_path / 'old.db'}", "DELETE FROM audit_records")
        AuditLog.open(f"sqlite:///{tmp_path / 'old.db'}", key_dir)
