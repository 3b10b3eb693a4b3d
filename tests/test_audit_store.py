"""The SQLite audit store: chaining and signing, durability, group commit, refusals, keys, crash safety."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit import keys
from audit.export import export_audit
from audit.merkle import root_hash, verify_consistency, verify_inclusion
from audit.checkpoint import key_fingerprint, verify_checkpoint, verify_head
from audit.format import canonical_json, leaf_hash, leaf_hash_of_bytes
from audit.skeleton import RecordSkeleton
from audit.errors import AuditUnavailable
from audit.log import AuditLog
from audit.verify import verify_export
from tests.conftest_audit import assert_chain_verifies, assert_two_processes_build_one_chain, new_store

REQUEST = {"request_id": "req-1", "actor": "ward-7-dashboard", "model_sha256": "ab" * 32, "tokens": 12,
           "decision": "redact", "findings": {"PERSON": 2}, "rule_ids": ["hipaa.safe_harbor.names"], "latency_s": 0.25}


@pytest.fixture()
def store(tmp_path: Path):
    with new_store(tmp_path) as opened:
        yield opened


def test_records_are_numbered_chained_and_signed(store: AuditLog) -> None:
    first = store.append("request", REQUEST)
    group = store.append_many([("completion", {"request_id": "req-1", "status": 200}), ("note", {"text_digest": "x"})])
    assert [first.seq, *(r.seq for r in group)] == [0, 1, 2]
    records = assert_chain_verifies(store)
    assert {k: records[0][k] for k in REQUEST} == REQUEST
    assert records[0]["kind"] == "request" and records[1]["kind"] == "completion"
    assert [leaf_hash(r).hex() for r in records] == [first.leaf_hash, *(r.leaf_hash for r in group)]
    assert records[2]["prev"] == group[0].leaf_hash
    datetime.strptime(first.ts, "%Y-%m-%dT%H:%M:%S.%fZ")  # RFC 3339 UTC with microseconds
    # append_many is one commit group: a single head covers both records
    assert [h["last_seq"] for h in store.reader.read_heads()] == [0, 2]
    assert store.reader.size() == 3


def test_records_heads_and_tree_survive_reopening(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        store.append_many([("request", {"n": i}) for i in range(20)])
        before = store.reader.read_records()
        fingerprint = store.signing_fingerprint
    with new_store(tmp_path) as store:
        assert store.reader.read_records() == before
        assert store.signing_fingerprint == fingerprint
        appended = store.append("request", {"n": 20})
        assert appended.seq == 20 and store.reader.read_records(20, 20)[0]["prev"] == leaf_hash(before[-1]).hex()
        records = assert_chain_verifies(store)
        note = store.write_checkpoint()
        checkpoint = verify_checkpoint(note, store.reader.public_keys()[fingerprint], store.origin)
        assert checkpoint.size == 21
        assert checkpoint.root == root_hash([leaf_hash(r) for r in records])


def test_concurrent_appenders_get_one_gap_free_chain_with_shared_signatures(store: AuditLog) -> None:
    threads, per_thread = 32, 40
    acknowledged: list[tuple[int, str]] = []
    lock = threading.Lock()

    def writer(worker: int) -> None:
        for i in range(per_thread):
            result = store.append("request", {"worker": worker, "i": i})
            with lock:
                acknowledged.append((result.seq, result.leaf_hash))

    pool = [threading.Thread(target=writer, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    total = threads * per_thread
    assert sorted(seq for seq, _ in acknowledged) == list(range(total))
    records = assert_chain_verifies(store)
    assert len(records) == total
    assert {(r["worker"], r["i"]) for r in records} == {(w, i) for w in range(threads) for i in range(per_thread)}
    assert {seq: leaf for seq, leaf in acknowledged} == {r["seq"]: leaf_hash(r).hex() for r in records}
    assert len(store.reader.read_heads()) < total, "group commit never batched two appenders into one signature"


def test_async_appenders_share_commit_groups_and_get_refusals(store: AuditLog) -> None:
    async def scenario() -> list:
        results = await asyncio.gather(*(store.append_async("request", {"task": t}) for t in range(200)))
        with pytest.raises(ValueError, match="reserved"):
            await store.append_async("request", {"seq": 1})
        return results

    results = asyncio.run(scenario())
    assert sorted(r.seq for r in results) == list(range(200))
    records = assert_chain_verifies(store)
    assert {r["task"] for r in records} == set(range(200))
    assert len(store.reader.read_heads()) < 200


class Shouty(str):
    """A str subclass key that sorts by its own rule (reversed), which plain-str splicing must not assume."""

    def __lt__(self, other: object) -> bool:
        return str(other) < str(self)


# Values chosen to break a serialiser that fills seq/ts/prev into pre-serialised text: keys sorting just
# before/after the store's fields, nested "prev"/"seq" keys, the hole marker itself as a value, escapes,
# non-ASCII, floats, big ints, empty containers.
TRICKY_FIELDS = [
    {},
    {"a": 1},
    {"zzz": "last", "aaa": "first"},
    {"kin": 1, "kinda": 2, "pre": 3, "prev_": 4, "prevx": 5, "se": 6, "seq0": 7, "seqz": 8, "t": 9, "ts0": 10, "tz": 11},
    {"KIND": "upper", "Prev": "x", "_seq": 1, "~ts": 2, "ü": "non-ascii key sorts after ts", "日本": "語"},
    {"nested": {"prev": "\x00", "seq": "\x00", "ts": "\x00", "kind": 5}},
    {"nul": "\x00"},
    {"nuls": ["\x00", "\x00", "\x00"], "more": {"x": "\x00"}},
    {"quote": '"\\u0000"', "backslash": "\\", "ctrl": "\n\t\x1f", "emoji": "\U0001F600", "bidi": "\u202e"},
    {"floats": [0.1, 1e300, -0.0, 1.5e-7, 123456789.125], "ints": [0, -1, 2**63, 10**30], "flags": [True, False, None]},
    {"deep": {"b": [{"z": 1, "a": {"y": [], "x": {}}}], "a": None}},
    {Shouty("b"): 1, Shouty("a"): 2, Shouty("z"): 3},
]


@pytest.mark.parametrize("fields", TRICKY_FIELDS)
def test_record_skeleton_renders_exactly_the_canonical_json(fields: dict) -> None:
    skeleton = RecordSkeleton("request", fields)
    for seq, ts, prev in [(0, "2025-01-31T12:00:00.000000Z", "0" * 64), (10**12, "ts", "ab" * 32), (7, "", "")]:
        expected = canonical_json({**fields, "seq": seq, "ts": ts, "kind": "request", "prev": prev})
        assert skeleton.render(seq, ts, prev) == expected
        assert leaf_hash_of_bytes(expected) == leaf_hash({**fields, "seq": seq, "ts": ts, "kind": "request", "prev": prev})


def test_record_skeleton_is_a_snapshot_of_the_fields() -> None:
    fields = {"request_id": "r1", "items": [1]}
    skeleton = RecordSkeleton("request", fields)
    fields["items"].append(2)
    fields["request_id"] = "changed"
    assert skeleton.field("request_id") == "r1"
    assert skeleton.render(1, "t", "p") == canonical_json({"request_id": "r1", "items": [1], "seq": 1, "ts": "t", "kind": "request", "prev": "p"})


def test_tricky_records_chain_and_export_verifies(store: AuditLog, tmp_path: Path) -> None:
    appended = store.append_many([("request", fields) for fields in TRICKY_FIELDS])
    records = assert_chain_verifies(store)  # recomputes every leaf with audit.format.canonical_json
    assert [leaf_hash(r).hex() for r in records] == [a.leaf_hash for a in appended]
    assert records[-1]["a"] == 2 and list(records[-1]) == sorted(records[-1])  # str-subclass keys stored as plain str
    assert verify_export(export_audit(store, tmp_path / "export").directory).records == len(TRICKY_FIELDS) + 1


@pytest.mark.parametrize("kind, fields, reason", [
    ("request", {"seq": 5}, "reserved"),
    ("request", {"prev": "00"}, "reserved"),
    ("request", {"ts": "2020-01-01T00:00:00Z"}, "reserved"),
    ("request", {"kind": "other"}, "reserved"),
    ("request", {"raw": b"bytes"}, "not JSON"),
    ("request", {"latency": float("nan")}, "not JSON"),
    ("request", {"when": datetime.now(timezone.utc)}, "not JSON"),
    ("request", {1: "numeric key"}, "field names must be strings"),
    ("request", ["not", "a", "dict"], "must be a dict"),
    ("", {"n": 1}, "kind must be a non-empty string"),
])
def test_bad_fields_are_refused_and_leave_no_trace(store: AuditLog, kind: str, fields: object, reason: str) -> None:
    store.append("request", {"n": 0})
    with pytest.raises(ValueError, match=reason):
        store.append(kind, fields)  # type: ignore[arg-type]
    assert store.append("request", {"n": 1}).seq == 1
    assert len(assert_chain_verifies(store)) == 2


def test_a_bad_record_in_append_many_refuses_the_whole_call(store: AuditLog) -> None:
    with pytest.raises(ValueError, match="not JSON"):
        store.append_many([("request", {"n": 0}), ("request", {"bad": {1, 2}})])
    assert store.reader.size() == 0


def test_read_only_database_is_unavailable(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        store.append("request", {"n": 0})
    with AuditLog.open(f"sqlite:///file:{tmp_path / 'audit.db'}?mode=ro&uri=true", tmp_path / "keys") as store:
        assert not store.writable()
        with pytest.raises(AuditUnavailable, match="readonly"):
            store.append("request", {"n": 1})
        assert [r["n"] for r in store.reader.read_records()] == [0]


def test_failed_write_rolls_back_the_whole_group_and_the_chain_resumes(store: AuditLog, tmp_path: Path) -> None:
    store.append("request", {"n": 0})
    outside = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    outside.execute(  # the group's head row (its last record) will be refused, after the rows before it went in
        "CREATE TRIGGER refuse_heads BEFORE INSERT ON audit_records WHEN NEW.signature IS NOT NULL "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    with pytest.raises(AuditUnavailable, match="disk says no"):
        store.append_many([("request", {"n": 1}), ("request", {"n": 2})])
    assert store.reader.size() == 1, "records of the failed group were left behind"
    assert store.writable()  # the database itself still takes writes
    outside.execute("DROP TRIGGER refuse_heads")
    outside.close()
    assert store.append("request", {"n": 3}).seq == 1
    assert [r["n"] for r in assert_chain_verifies(store)] == [0, 3]


def test_two_processes_on_one_sqlite_file_build_one_chain(tmp_path: Path) -> None:
    """Two busy processes append to one SQLite file without pausing: the log's file lock hands the write
    turn from one committer to the other, each chains onto the tail it reads under that lock, and
    neither starves (with SQLite's polling lock alone, one could)."""
    keys.init_keys(tmp_path / "keys")
    assert_two_processes_build_one_chain(f"sqlite:///{tmp_path / 'audit.db'}", tmp_path / "keys", tmp_path)


def test_appends_wait_while_another_process_holds_the_log_file_lock(store: AuditLog, tmp_path: Path) -> None:
    store.append("request", {"n": 0})
    lock_file = tmp_path / "audit.db-audit.lock"
    assert lock_file.stat().st_mode & 0o777 == 0o600
    holder = subprocess.Popen(  # another writer's turn, as long as it wants
        [sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'r+'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('held', flush=True); sys.stdin.readline()", str(lock_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        appended: list[int] = []
        writer = threading.Thread(target=lambda: appended.append(store.append("request", {"n": 1}).seq))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and not appended and store.reader.size() == 1, "appended while another process held the lock"
    finally:
        holder.communicate("done\n", timeout=10)
    writer.join(10)
    assert appended == [1]
    assert [r["n"] for r in assert_chain_verifies(store)] == [0, 1]


def test_a_log_whose_file_lock_cannot_be_taken_refuses_appends(tmp_path: Path) -> None:
    (tmp_path / "audit.db-audit.lock").mkdir()  # e.g. a restore gone wrong: the lock cannot be opened
    with new_store(tmp_path) as store:
        with pytest.raises(AuditUnavailable, match="cannot lock .*audit.db-audit.lock"):
            store.append("request", {"n": 0})
        assert store.reader.size() == 0


def test_a_store_catches_up_with_appends_and_a_rotation_by_another_process(tmp_path: Path) -> None:
    with new_store(tmp_path) as server, new_store(tmp_path) as cli:
        server.append_many([("request", {"n": i}) for i in range(3)])  # the server knows the tail is seq 2
        old = server.signing_fingerprint
        assert cli.append("key_change", {"action": "create"}).seq == 3
        new = cli.rotate_key()
        appended = server.append("request", {"n": 5})
        assert appended.seq == 5 and server.signing_fingerprint == new
        records = assert_chain_verifies(server)
        assert [r["kind"] for r in records] == ["request"] * 3 + ["key_change", "key_rotation", "request"]
        assert [head["key_fingerprint"] for head in server.reader.read_heads()] == [old, old, old, new]
        assert appended.leaf_hash == leaf_hash(records[5]).hex()


def test_a_log_with_a_record_deleted_from_its_middle_is_refused_at_open(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        store.append_many([("request", {"n": i}) for i in range(30)])
    outside = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    outside.execute("DELETE FROM audit_records WHERE seq = 17")
    outside.close()
    with pytest.raises(AuditUnavailable, match="corrupt: record 17 is missing"):
        new_store(tmp_path)


def test_closed_store_refuses_appends(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.close()
    with pytest.raises(AuditUnavailable, match="closed"):
        store.append("request", {"n": 0})
    assert not store.writable()


def test_digest_is_keyed_hmac_and_never_the_text(store: AuditLog, tmp_path: Path) -> None:
    text = "Patient Jane Roe, MRN 889123"
    digest = store.digest(text)
    key = (tmp_path / "keys" / keys.HMAC_KEY_FILE).read_bytes()
    assert digest == hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    assert digest != hashlib.sha256(text.encode()).hexdigest()
    assert store.digest(text) == digest and store.digest(text + " ") != digest


def test_find_filters_and_pages(store: AuditLog) -> None:
    store.append_many([("request", {"request_id": f"r{i}", "actor": "alice" if i % 2 else "bob"}) for i in range(6)])
    store.append("completion", {"request_id": "r3", "actor": "alice", "status": 200})
    assert [r["seq"] for r in store.reader.find(request_id="r3")] == [3, 6]
    assert [r["seq"] for r in store.reader.find(kind="request", actor="alice")] == [1, 3, 5]
    assert [r["seq"] for r in store.reader.find(kind="request", limit=2, offset=2)] == [2, 3]
    ts = store.reader.read_records(6, 6)[0]["ts"]
    assert [r["seq"] for r in store.reader.find(since=ts)] == [6]
    later = datetime.fromisoformat(ts) + timedelta(seconds=1)
    assert store.reader.find(since=later) == [] and len(store.reader.find(until=later)) == 7
    with pytest.raises(ValueError, match="time zone"):
        store.reader.find(since=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="limit"):
        store.reader.find(limit=100_000)



def test_time_filters_are_exact_when_the_clock_steps_back(store: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups are found by their heads' times, not by seq order: a group stamped earlier than the one before
    it (NTP stepped the clock back, or another node's clock lags) is still found, and only it."""
    clock = iter(["2026-03-01T10:00:00.000000Z", "2026-03-01T09:00:00.000000Z", "2026-03-01T11:00:00.000000Z"])
    monkeypatch.setattr("audit.log.utc_timestamp", lambda: next(clock))
    for group in range(3):
        store.append_many([("request", {"request_id": f"g{group}-{i}"}) for i in range(2)])
    monkeypatch.undo()

    def request_ids(**bounds: str) -> list[str]:
        return [record["request_id"] for record in store.reader.find(**bounds)]

    assert request_ids(until="2026-03-01T09:30:00+00:00") == ["g1-0", "g1-1"]
    assert request_ids(since="2026-03-01T09:30:00+00:00", until="2026-03-01T10:30:00+00:00") == ["g0-0", "g0-1"]
    assert request_ids(since="2026-03-01T09:30:00+00:00") == ["g0-0", "g0-1", "g2-0", "g2-1"]
    assert request_ids(since="2026-03-01T09:30:00+00:00", kind="request", limit=1, offset=2) == ["g2-0"]
    assert [record["ts"] for record in store.reader.find(since="2026-03-01T10:59:00+00:00")] == ["2026-03-01T11:00:00.000000Z"] * 2

def test_checkpoints_every_n_records_with_valid_proofs(tmp_path: Path) -> None:
    with new_store(tmp_path, checkpoint_every=10) as store:
        for i in range(25):
            store.append("request", {"n": i})
        key = store.reader.public_keys()[store.signing_fingerprint]
        latest = verify_checkpoint(store.reader.latest_checkpoint(), key, store.origin)
        assert latest.size >= 20
        leaves = [leaf_hash(r) for r in store.reader.read_records()]
        assert latest.root == root_hash(leaves[:latest.size])
        verify_inclusion(leaves[7], 7, latest.size, store.reader.inclusion_proof(7, latest.size), latest.root)
        current = verify_checkpoint(store.write_checkpoint(), key, store.origin)
        assert current.size == 25
        verify_consistency(latest.size, 25, latest.root, current.root, store.reader.consistency_proof(latest.size, 25))
    with new_store(tmp_path) as store:
        assert verify_checkpoint(store.reader.latest_checkpoint(), key, store.origin).size == 25  # final one at close


def test_key_rotation_is_announced_under_the_old_key(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        store.append("request", {"n": 0})
        old = store.signing_fingerprint
        new = store.rotate_key()
        store.append("request", {"n": 1})
        records = assert_chain_verifies(store)
        rotation = records[1]
        assert rotation["kind"] == "key_rotation" and rotation["new_key_fingerprint"] == new != old
        announced = Ed25519PublicKey.from_public_bytes(base64.b64decode(rotation["new_public_key"]))
        assert key_fingerprint(announced) == new
        heads = {h["last_seq"]: h for h in store.reader.read_heads()}
        assert heads[1]["key_fingerprint"] == old and heads[2]["key_fingerprint"] == new
        assert verify_head(store.reader.public_keys()[old], 1, leaf_hash(rotation), heads[1]["signature"])
        assert set(store.reader.public_keys()) == {old, new}
        assert store.signing_fingerprint == new
    assert key_fingerprint(keys.load_signing_key(tmp_path / "keys").public_key()) == new
    assert not (tmp_path / "keys" / keys.STAGED_SIGNING_KEY_FILE).exists()
    with new_store(tmp_path) as store:
        assert store.signing_fingerprint == new
        report = verify_export(export_audit(store, tmp_path / "export").directory)
        assert report.key_rotations == 1 and report.signing_key_fingerprint == new


def test_retired_key_file_is_refused(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        old_pem = (tmp_path / "keys" / keys.SIGNING_KEY_FILE).read_bytes()
        store.rotate_key()
    os.chmod(tmp_path / "keys" / keys.SIGNING_KEY_FILE, 0o600)
    (tmp_path / "keys" / keys.SIGNING_KEY_FILE).write_bytes(old_pem)  # someone restores the old key
    with pytest.raises(keys.KeyFileError, match="retired"):
        new_store(tmp_path)


def test_unfinished_rotation_is_settled_on_open(tmp_path: Path) -> None:
    with new_store(tmp_path) as store:
        fingerprint = store.signing_fingerprint
    keys.stage_signing_key(tmp_path / "keys")  # a crash after staging, before the rotation record
    with new_store(tmp_path) as store:
        assert store.signing_fingerprint == fingerprint
    assert not (tmp_path / "keys" / keys.STAGED_SIGNING_KEY_FILE).exists()


def test_key_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    keys.init_keys(key_dir)
    assert oct(key_dir.stat().st_mode & 0o777) == "0o700"
    for name in (keys.SIGNING_KEY_FILE, keys.HMAC_KEY_FILE):
        assert oct((key_dir / name).stat().st_mode & 0o777) == "0o600"
    before = (key_dir / keys.SIGNING_KEY_FILE).read_bytes()
    with pytest.raises(keys.KeyFileError, match="refusing to overwrite"):
        keys.init_keys(key_dir)
    assert (key_dir / keys.SIGNING_KEY_FILE).read_bytes() == before


@pytest.mark.parametrize("name, loader", [
    (keys.SIGNING_KEY_FILE, keys.load_signing_key),
    (keys.HMAC_KEY_FILE, keys.load_hmac_key),
])
def test_key_files_readable_by_others_are_refused(tmp_path: Path, name: str, loader) -> None:
    keys.init_keys(tmp_path / "keys")
    os.chmod(tmp_path / "keys" / name, 0o644)
    with pytest.raises(keys.KeyFileError, match=r"has mode 0644; it must be 0600"):
        loader(tmp_path / "keys")
    with pytest.raises(keys.KeyFileError, match="0644"):
        AuditLog.open(f"sqlite:///{tmp_path / 'audit.db'}", tmp_path / "keys")


def test_open_key_directory_is_refused(tmp_path: Path) -> None:
    keys.init_keys(tmp_path / "keys")
    os.chmod(tmp_path / "keys", 0o755)
    with pytest.raises(keys.KeyFileError, match="key directory .* has mode 0755"):
        keys.load_signing_key(tmp_path / "keys")


@pytest.mark.parametrize("name, content, reason", [
    (keys.SIGNING_KEY_FILE, b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n", "corrupt"),
    (keys.SIGNING_KEY_FILE, b"", "corrupt"),
    (keys.HMAC_KEY_FILE, b"short", "expected 32 bytes, found 5"),
])
def test_corrupt_key_files_are_refused(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    keys.init_keys(tmp_path / "keys")
    (tmp_path / "keys" / name).write_bytes(content)
    with pytest.raises(keys.KeyFileError, match=reason):
        AuditLog.open(f"sqlite:///{tmp_path / 'audit.db'}", tmp_path / "keys")


def test_missing_keys_are_refused_and_ensure_keys_creates_them_once(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyFileError, match="does not exist"):
        AuditLog.open(f"sqlite:///{tmp_path / 'audit.db'}", tmp_path / "keys")
    keys.ensure_keys(tmp_path / "keys")
    pem = (tmp_path / "keys" / keys.SIGNING_KEY_FILE).read_bytes()
    keys.ensure_keys(tmp_path / "keys")
    assert (tmp_path / "keys" / keys.SIGNING_KEY_FILE).read_bytes() == pem


CRASH_WRITER = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from audit.log import AuditLog
    store = AuditLog.open(sys.argv[1], Path(sys.argv[2]))
    out = threading.Lock()
    def writer(worker):
        for i in range(100_000):
            result = store.append("request", {"worker": worker, "i": i})
            with out:
                sys.stdout.write(f"{result.seq} {result.leaf_hash}\\n")
                sys.stdout.flush()
    for worker in range(8):
        threading.Thread(target=writer, args=(worker,)).start()
""")


@pytest.mark.slow
def test_kill_9_mid_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with new_store(tmp_path):
        pass
    writer = subprocess.Popen(
        [sys.executable, "-c", CRASH_WRITER, f"sqlite:///{tmp_path / 'audit.db'}", str(tmp_path / "keys")],
        stdout=subprocess.PIPE, text=True,
    )
    acknowledged = {}
    assert writer.stdout is not None
    for line in writer.stdout:
        seq, leaf = line.split()
        acknowledged[int(seq)] = leaf
        if len(acknowledged) >= 2000:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    with new_store(tmp_path) as store:
        records = assert_chain_verifies(store)
        stored = {r["seq"]: leaf_hash(r).hex() for r in records}
        assert all(stored.get(seq) == leaf for seq, leaf in acknowledged.items())
        store.append("request", {"after": "restart"})
        assert verify_export(export_audit(store, tmp_path / "export").directory).records == len(records) + 2


def test_a_store_of_an_older_layout_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    keys.init_keys(tmp_path / "keys")
    with sqlite3.connect(tmp_path / "audit.db") as db:  # records without the head columns, heads in a table of their own
        db.execute("CREATE TABLE audit_records (seq INTEGER PRIMARY KEY, ts VARCHAR, kind VARCHAR, request_id VARCHAR, "
                   "actor VARCHAR, body TEXT, leaf VARCHAR)")
        db.execute("INSERT INTO audit_records VALUES (0, 't', 'init', NULL, NULL, '{}', 'aa')")
    with pytest.raises(AuditUnavailable, match="older layout .*group_first_seq, key_fingerprint, signature"):
        AuditLog.open(f"sqlite:///{tmp_path / 'audit.db'}", tmp_path / "keys")
    with sqlite3.connect(tmp_path / "audit.db") as db:
        assert db.execute("SELECT count(*) FROM audit_records").fetchone() == (1,)
