"""The offline verifier on hostile export directories: links, FIFOs, devices, huge and deeply nested files.

Whatever the directory holds, the verifier reads regular files only, within size caps, never hangs and ends
with one verdict line (exit 1), never a traceback.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audit import keys
from audit.export import export_audit
from audit.log import AuditLog
from audit.verify import NO_ANCHOR_WARNING
from audit.verify_files import MAX_RECORD_LINE, MAX_SMALL_FILE

REPO = Path(__file__).resolve().parents[1]
VERDICT_TIMEOUT_S = 60  # far above the second this takes; a FIFO read would hang past it


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("hostile")
    keys.init_keys(base / "keys")
    with AuditLog.open(f"sqlite:///{base / 'audit.db'}", base / "keys") as store:
        store.append_many([("request", {"request_id": f"r{i}", "actor": "alice"}) for i in range(20)])
        export_audit(store, base / "export")
    return base / "export"


@pytest.fixture()
def export(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "export"
    shutil.copytree(pristine, target)
    return target


def verify_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit.verify", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=VERDICT_TIMEOUT_S)


def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 1, a FAILED verdict as the last line naming each of `expected`, no traceback."""
    verdict = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1, result.stdout + result.stderr
    assert verdict.startswith("FAILED: "), result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in verdict, verdict
    return verdict


def test_untouched_export_passes(export: Path) -> None:
    result = verify_cli(str(export), "--trusted-fingerprint", (export / "public_key.fingerprint").read_text().strip())
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr


def test_a_listed_file_replaced_by_a_symbolic_link_is_refused(export: Path, tmp_path: Path) -> None:
    outside = tmp_path / "proofs-elsewhere.json"
    shutil.move(export / "proofs.json", outside)  # same bytes: following the link would verify
    (export / "proofs.json").symlink_to(outside)
    assert_refused(verify_cli(str(export)), "proofs.json is a symbolic link", "regular files only")


def test_a_link_to_a_device_is_refused_without_reading_it(export: Path) -> None:
    (export / "manifest.sig").unlink()
    (export / "manifest.sig").symlink_to("/dev/zero")
    assert_refused(verify_cli(str(export)), "manifest.sig is a symbolic link")


def test_a_fifo_in_place_of_a_listed_file_gives_a_verdict_instead_of_hanging(export: Path) -> None:
    (export / "proofs.json").unlink()
    os.mkfifo(export / "proofs.json")
    assert_refused(verify_cli(str(export)), "proofs.json is a FIFO")


def test_an_unlisted_fifo_is_refused(export: Path) -> None:
    os.mkfifo(export / "notes")
    assert_refused(verify_cli(str(export)), "notes is a FIFO")


def test_deeply_nested_json_gives_a_verdict(export: Path) -> None:
    (export / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    assert_refused(verify_cli(str(export)), "manifest.json is not valid JSON (or nested too deeply)")


def test_deeply_nested_record_gives_a_verdict_naming_it(export: Path) -> None:
    lines = (export / "records.jsonl").read_bytes().splitlines(keepends=True)
    lines[3] = b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n"
    (export / "records.jsonl").write_bytes(b"".join(lines))
    assert_refused(verify_cli(str(export)), "record 3: not valid JSON (or nested too deeply)")


def test_oversized_files_and_record_lines_are_refused_by_their_caps(export: Path) -> None:
    with open(export / "checkpoint", "ab") as grown:
        grown.truncate(MAX_SMALL_FILE + 1)  # sparse: no disk, and never read whole
    assert_refused(verify_cli(str(export)), "checkpoint is", "bytes, over the")

    lines = (export / "records.jsonl").read_bytes().splitlines(keepends=True)
    lines.insert(5, b"x" * (MAX_RECORD_LINE + 10) + b"\n")
    (export / "records.jsonl").write_bytes(b"".join(lines))
    assert_refused(verify_cli(str(export)), f"record 5: longer than {MAX_RECORD_LINE} bytes")


def test_a_trusted_checkpoint_that_is_a_fifo_gives_a_verdict(export: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "kept")
    assert_refused(verify_cli(str(export), "--trusted-checkpoint", str(tmp_path / "kept")), "kept is a FIFO")


def test_no_trust_anchor_warns_loudly_and_the_cli_takes_a_trusted_fingerprint(export: Path) -> None:
    bare = verify_cli(str(export))
    assert bare.returncode == 0 and NO_ANCHOR_WARNING in bare.stderr

    appliance = [sys.executable, "-m", "appliance.cli.main", "audit", "verify", str(export)]
    warned = subprocess.run(appliance, cwd=REPO, capture_output=True, text=True, timeout=VERDICT_TIMEOUT_S)
    assert warned.returncode == 0 and "WARNING: NO TRUST ANCHOR" in warned.stderr

    wrong = subprocess.run([*appliance, "--trusted-fingerprint", "ab" * 32], cwd=REPO, capture_output=True, text=True,
                           timeout=VERDICT_TIMEOUT_S)
    assert_refused(wrong, "is not the trusted key")
    right = subprocess.run([*appliance, "--trusted-fingerprint", (export / "public_key.fingerprint").read_text().strip()],
                           cwd=REPO, capture_output=True, text=True, timeout=VERDICT_TIMEOUT_S)
    assert right.returncode == 0 and "WARNING" not in right.stderr and "OK:" in right.stdout
