"""The audit disk filling up under load: 503 `audit_unavailable` (fail closed), nothing half-written, and
answers again once space returns, without a restart.

The server runs in a private mount namespace (`unshare -m`) where its audit database lives on a 16 MiB
tmpfs; the test reaches that file system through `/proc/PID/root` and fills it with a file while the
clients run, then deletes the file.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.appliance_server import ApplianceServer, init_data_dir
from tests.audit_ledger import all_records, assert_gap_free, by_request_id, export_and_verify
from tests.load_clients import CallResult, Load, chat_shape

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.timeout(1200)]

TMPFS_BYTES = 16 * 1024 * 1024
# Mount the tmpfs, move the initialised log onto it, then become the server (same pid).
IN_NAMESPACE = 'set -e; mount -t tmpfs -o size="$1" tmpfs "$2"; cp "$3" "$2/"; shift 3; exec "$@"'
CONFIG = """
[engine]
context_length = 1024
max_queue = 32
[audit]
checkpoint_every = 25
"""
CLIENTS = 8
ANSWERS = 4  # before the disk fills, and again after space returns
RECOVERY_GRACE = 1.0  # seconds after space returns: calls started later must all be answered
SHAPES = [
    chat_shape("chat", "Say the number seven.", 8),
    chat_shape("stream", "Name a colour.", 8, stream=True),
]


@pytest.fixture(scope="module")
def private_mounts(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip, saying why, where no private mount namespace with a tmpfs can be made (CI runs as root)."""
    probe = tmp_path_factory.mktemp("mount-probe")
    try:
        made = subprocess.run(["unshare", "-m", "--", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)],
                              capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("unshare(1) is not installed: no private mount namespace for the small audit disk")
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace here: {made.stderr.strip()}")


@pytest.fixture
def small_disk_server(tmp_path: Path, private_mounts: None) -> Iterator[tuple[ApplianceServer, Path]]:
    """A server whose audit database is on a small tmpfs only it sees; (server, that tmpfs as seen from here)."""
    data_dir, audit_dir = tmp_path / "data", tmp_path / "audit-disk"
    audit_dir.mkdir()
    tokens = init_data_dir(data_dir, CONFIG)
    server = ApplianceServer(
        data_dir, tokens, prefix=["unshare", "-m", "--", "sh", "-c", IN_NAMESPACE, "sh", str(TMPFS_BYTES),
                                  str(audit_dir), str(data_dir / "audit.db")],
        env={"APPLIANCE_AUDIT_URL": f"sqlite:///{audit_dir}/audit.db"},
    )
    with server:
        assert server.process is not None
        seen = Path(f"/proc/{server.process.pid}/root") / audit_dir.relative_to("/")
        disk = os.statvfs(seen)
        assert disk.f_blocks * disk.f_frsize == TMPFS_BYTES and not any(audit_dir.iterdir())  # private, small
        yield server, seen


def sqlite_in_namespace(server: ApplianceServer, database: Path, statement: str) -> str:
    """Run one SQLite statement on `database` inside the server's mount namespace (`nsenter`): SQLite
    resolves symbolic links in a path, so through /proc/PID/root it would open the host's file instead."""
    assert server.process is not None
    script = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1], timeout=60).execute(sys.argv[2]).fetchall())"
    done = subprocess.run(["nsenter", "-t", str(server.process.pid), "-m", sys.executable, "-c", script, str(database),
                           statement], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def fill(disk: Path) -> Path:
    """Write a file until the file system is full; the file."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:  # unbuffered: closing must not retry a write that failed
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError as full:
            assert full.errno == 28, full  # ENOSPC
    return filler


def answered_since(calls: list[CallResult], since: float) -> int:
    return sum(c.complete for c in calls if c.started > since)


def refused_for_audit(calls: list[CallResult], since: float) -> int:
    return sum(c.error_code == "audit_unavailable" for c in calls if c.started > since)


def test_audit_disk_full_refuses_then_recovers_without_restart(small_disk_server: tuple[ApplianceServer, Path]) -> None:
    server, disk = small_disk_server
    audit_db = Path(server.env["APPLIANCE_AUDIT_URL"].removeprefix("sqlite:///"))
    pid = server.process.pid if server.process else None
    with Load(server, SHAPES, clients=CLIENTS) as load:
        load.wait_for(lambda calls: answered_since(calls, 0) >= ANSWERS, 600, "answers before the disk fills")
        # Checkpoint and truncate the WAL, so the next commit must grow it (else SQLite keeps writing into
        # WAL space it already has, up to ~1000 pages, before the full disk shows).
        assert sqlite_in_namespace(server, audit_db, "PRAGMA wal_checkpoint(TRUNCATE)").startswith("[(0,")
        filled_at = time.monotonic()
        filler = fill(disk)
        load.wait_for(lambda calls: refused_for_audit(calls, filled_at) >= 3, 600, "503 audit_unavailable")
        full = httpx.get(server.url + "/readyz", headers=server.headers(), timeout=60)
        assert full.status_code == 503 and full.json()["audit_writable"] is False, full.text
        freed_at = time.monotonic()
        filler.unlink()
        load.wait_for(lambda calls: answered_since(calls, freed_at + RECOVERY_GRACE) >= ANSWERS, 600,
                      "answers after space returned")
    calls = load.snapshot()
    assert server.process is not None and server.process.pid == pid and server.process.poll() is None

    assert all(c.status == 200 and c.complete for c in calls if c.ended < filled_at)  # before the disk filled
    for call in calls:
        if call.error is not None:  # a 503, or a stream whose outcome could not be recorded: an error event
            assert call.status in (200, 503) and not call.complete, call
            assert call.error["code"] == "audit_unavailable" and call.error["type"] == "server_error", call
            assert "audit" in call.error["message"].lower(), call
            assert call.status == 200 or call.text == "", call  # a refused answer is never sent
        else:
            assert call.status == 200 and call.complete, call
    recovered = [c for c in calls if c.started > freed_at + RECOVERY_GRACE]
    assert recovered and all(c.complete for c in recovered), Counter((c.status, c.error_code) for c in recovered)

    assert sqlite_in_namespace(server, audit_db, "PRAGMA integrity_check") == "[('ok',)]"
    records = all_records(server)
    assert_gap_free(records)
    logged = by_request_id(records)
    delivered = {c.request_id for c in calls if c.complete}
    for request_id in delivered:
        outcome = logged[request_id].outcome
        assert outcome is not None and outcome["status"] == 200, logged[request_id]
    # Every answer the log says was delivered was delivered: as many 200 outcomes as whole answers.
    ours = {c.request_id for c in calls}
    assert sum(1 for rid, e in logged.items() if rid in ours for o in e.outcomes if o["status"] == 200) == len(delivered)
    assert export_and_verify(server) >= len(records)
    reply = httpx.get(server.url + "/readyz", headers=server.headers(), timeout=60)
    assert reply.status_code == 200 and reply.json()["audit_writable"] is True
