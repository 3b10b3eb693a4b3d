"""The offline verifier catches every kind of tampering with an export, naming the broken record."""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import shutil
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit import keys
from audit.checkpoint import parse_body, sign_checkpoint, split_note
from audit.export import export_audit
from audit.checkpoint import key_fingerprint
from audit.format import canonical_json
from audit.log import AuditLog
from audit.tail_anchor import LogTailMismatch
from audit.verify import VerifyError, verify_export
from audit.verify_parallel import chunk_bounds

REPO = Path(__file__).resolve().parents[1]
GROUPS_BEFORE_ROTATION = 12
GROUPS_AFTER_ROTATION = 10


def _fill(store: AuditLog, groups: int, start: int) -> None:
    """Commit `groups` groups of 1..17 varied records each."""
    for group in range(groups):
        size = 1 + (group * 7) % 17
        store.append_many([
            ("inference", {
                "request_id": f"req-{start + group}-{i}",
                "actor": f"key-{i % 3}",
                "model": {"id": "smollm2", "sha256": "b1" * 32},
                "findings": {"PERSON": i % 4, "US_SSN": i % 2},
                "decision": ["allow", "redact", "block"][i % 3],
                "latency_ms": 12.5 + i,
                "tokens": i * 11,
                "note": "naïve café ✓" if i % 5 == 0 else None,
            })
            for i in range(size)
        ])


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real SQLite store with a few hundred records, a key rotation, and two full exports."""
    base = tmp_path_factory.mktemp("audit")
    keys.init_keys(base / "keys")
    url = f"sqlite:///{base / 'audit.db'}"
    with AuditLog.open(url, base / "keys") as store:
        _fill(store, GROUPS_BEFORE_ROTATION, 0)
        export_audit(store, base / "early")
        store.rotate_key()
        _fill(store, GROUPS_AFTER_ROTATION, 100)
        export_audit(store, base / "export")
    return {"base": base, "url": Path(url), "early": base / "early", "export": base / "export"}


@pytest.fixture()
def export(log: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "export"
    shutil.copytree(log["export"], target)
    return target


def _lines(directory: Path) -> list[bytes]:
    return (directory / "records.jsonl").read_bytes().splitlines(keepends=True)


@contextmanager
def _records_replaced(directory: Path, lines: list[bytes]) -> Iterator[None]:
    path = directory / "records.jsonl"
    original = path.read_bytes()
    path.write_bytes(b"".join(lines))
    try:
        yield
    finally:
        path.write_bytes(original)


def _fails_at(directory: Path, seq: int | None, **kwargs) -> VerifyError:
    with pytest.raises(VerifyError) as caught:
        verify_export(directory, **kwargs)
    assert caught.value.seq == seq, str(caught.value)
    return caught.value


def _altered_value(value):
    """The value with one character (or unit) changed, same JSON type where possible."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, str):
        return (chr(ord(value[0]) ^ 1) + value[1:]) if value else "x"
    if isinstance(value, dict):
        key = sorted(value)[0]
        return {**value, key: _altered_value(value[key])}
    if isinstance(value, list):
        return [_altered_value(value[0]), *value[1:]] if value else [0]
    raise AssertionError(type(value))


def test_untouched_export_verifies(export: Path) -> None:
    report = verify_export(export)
    lines = _lines(export)
    assert report.records == len(lines) == report.tree_size
    assert report.key_rotations == 1
    assert report.genesis_key_fingerprint != report.signing_key_fingerprint
    assert json.loads(lines[-1])["kind"] == "export"
    assert report.first_ts == json.loads(lines[0])["ts"] and report.last_ts == json.loads(lines[-1])["ts"]
    assert len(lines) > 150
    heads = (export / "heads.jsonl").read_bytes().splitlines()
    assert len(heads) >= GROUPS_BEFORE_ROTATION + GROUPS_AFTER_ROTATION


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_parallel_walk_accepts_exactly_what_the_sequential_walk_accepts(
    export: Path, monkeypatch: pytest.MonkeyPatch, start_method: str
) -> None:
    """Worker processes parse and hash big exports; any doubt falls back to the sequential walk, which
    names the broken record. Cuts between the workers' chunks are where a parallel walk could go wrong."""
    monkeypatch.setattr("audit.verify_parallel.start_method", lambda: start_method)
    sequential = verify_export(export, workers=1)
    with monkeypatch.context() as patched:  # the parallel walk must accept the untouched export on its own
        patched.setattr("audit.verify._walk_records", lambda *args: pytest.fail("fell back to the sequential walk"))
        assert verify_export(export, workers=2) == sequential
    lines = _lines(export)
    line_starts = list(itertools.accumulate((len(line) for line in lines), initial=0))
    chunk_starts = [line_starts.index(start) for start, _ in chunk_bounds(export / "records.jsonl", 8)]
    assert len(chunk_starts) == 8
    for seq in sorted({max(start + step, 0) for start in chunk_starts for step in (-1, 0)} | {len(lines) - 1}):
        broken = bytearray(lines[seq])
        broken[len(broken) // 2] ^= 0x01
        with _records_replaced(export, lines[:seq] + [bytes(broken)] + lines[seq + 1:]):
            assert str(_fails_at(export, seq, workers=2)) == str(_fails_at(export, seq, workers=1))
    with _records_replaced(export, lines[:100] + lines[101:]):  # a record deleted
        _fails_at(export, 100, workers=2)
    with _records_replaced(export, lines[:-3]):  # the tail cut off
        assert "missing" in str(_fails_at(export, len(lines) - 3, workers=2))
    with _records_replaced(export, []):  # nothing left at all
        assert "holds no records" in str(_fails_at(export, None, workers=2))


def test_every_field_of_every_record_changed_is_caught_at_that_record(export: Path) -> None:
    lines = _lines(export)
    checked = 0
    for seq, line in enumerate(lines):
        record = json.loads(line)
        for field in record:
            altered = canonical_json({**record, field: _altered_value(record[field])}) + b"\n"
            with _records_replaced(export, lines[:seq] + [altered] + lines[seq + 1:]):
                _fails_at(export, seq)
            checked += 1
    assert checked > 1000


def test_one_flipped_byte_anywhere_is_caught_at_that_record(export: Path) -> None:
    lines = _lines(export)
    for seq, line in enumerate(lines):
        positions = range(len(line) - 1) if seq in (0, 1, len(lines) // 2, len(lines) - 1) else (1, len(line) // 2, len(line) - 2)
        for position in positions:
            broken = bytearray(line)
            broken[position] ^= 0x01
            with _records_replaced(export, lines[:seq] + [bytes(broken)] + lines[seq + 1:]):
                _fails_at(export, seq)


def test_deleted_record_is_caught(export: Path) -> None:
    lines = _lines(export)
    for seq in range(1, len(lines) - 1):
        with _records_replaced(export, lines[:seq] + lines[seq + 1:]):
            error = _fails_at(export, seq)
            assert "deleted, inserted or reordered" in str(error)


def test_swapped_neighbours_are_caught(export: Path) -> None:
    lines = _lines(export)
    for seq in range(len(lines) - 1):
        with _records_replaced(export, lines[:seq] + [lines[seq + 1], lines[seq]] + lines[seq + 2:]):
            _fails_at(export, seq)


def test_inserted_records_are_caught(export: Path) -> None:
    lines = _lines(export)
    for seq in range(0, len(lines), 9):
        copy = lines[seq]
        with _records_replaced(export, lines[:seq + 1] + [copy] + lines[seq + 1:]):
            _fails_at(export, seq + 1)
        # A forged record that names the right seq and prev still breaks the records after it.
        forged = json.loads(lines[seq])
        forged["decision"] = "allow"
        forged["seq"] = seq + 1
        forged["prev"] = json.loads(lines[seq + 1])["prev"] if seq + 1 < len(lines) else forged["prev"]
        with _records_replaced(export, lines[:seq + 1] + [canonical_json(forged) + b"\n"] + lines[seq + 1:]):
            with pytest.raises(VerifyError):
                verify_export(export)
    appended = json.loads(lines[-1])
    appended.update(seq=len(lines), prev=hashlib.sha256(b"\x00" + lines[-1][:-1]).hexdigest())
    with _records_replaced(export, lines + [canonical_json(appended) + b"\n"]):
        assert "not part of the export" in str(_fails_at(export, len(lines)))


def test_truncated_tail_is_caught(export: Path) -> None:
    lines = _lines(export)
    for keep in (len(lines) - 1, len(lines) - 5, 10):
        with _records_replaced(export, lines[:keep]):
            error = _fails_at(export, keep)
            assert "missing" in str(error)
    with _records_replaced(export, lines[:-1] + [lines[-1][:-1]]):
        _fails_at(export, len(lines) - 1)


def test_bad_json_is_refused_with_a_reason(export: Path) -> None:
    lines = _lines(export)
    with _records_replaced(export, lines[:3] + [b'{"seq": 3,\n'] + lines[4:]):
        assert "not valid JSON" in str(_fails_at(export, 3))
    with _records_replaced(export, lines[:3] + [b"[3]\n"] + lines[4:]):
        assert "not a JSON object" in str(_fails_at(export, 3))
    (export / "heads.jsonl").write_bytes(b"not json\n" + (export / "heads.jsonl").read_bytes())
    assert "heads.jsonl line 1 is not valid JSON" in str(_fails_at(export, None))


def test_edited_manifest_is_caught(export: Path) -> None:
    manifest = (export / "manifest.json").read_text()
    (export / "manifest.json").write_text(manifest.replace('"created": "', '"created": "1'))
    assert "manifest.sig" in str(_fails_at(export, None))


def test_manifest_resigned_with_another_key_is_caught(export: Path) -> None:
    other = Ed25519PrivateKey.generate()
    (export / "manifest.sig").write_bytes(base64.b64encode(other.sign((export / "manifest.json").read_bytes())))
    assert "manifest.sig" in str(_fails_at(export, None))


@pytest.mark.parametrize("name", ["proofs.json", "heads.jsonl", "key_rotations.jsonl", "checkpoint"])
def test_edited_or_extra_or_missing_files_are_caught(export: Path, name: str) -> None:
    path = export / name
    original = path.read_bytes()
    path.write_bytes(original + b"\n")
    with pytest.raises(VerifyError):
        verify_export(export)
    path.write_bytes(original)
    (export / "notes.txt").write_text("added later")
    assert "notes.txt is not listed" in str(_fails_at(export, None))
    (export / "notes.txt").unlink()
    verify_export(export)


def test_checkpoint_resigned_with_another_key_is_caught(export: Path) -> None:
    note = (export / "checkpoint").read_text()
    text, _ = split_note(note)
    body = parse_body(text)
    other = Ed25519PrivateKey.generate()
    (export / "checkpoint").write_text(sign_checkpoint(body.origin, body.size, body.root, other, body.origin))
    assert "not signed by the log's current key" in str(_fails_at(export, None))


def test_head_claiming_the_wrong_key_is_caught(export: Path) -> None:
    path = export / "heads.jsonl"
    heads = [json.loads(line) for line in path.read_bytes().splitlines()]
    first_key = heads[0]["key_fingerprint"]
    after = next(head for head in heads if head["key_fingerprint"] != first_key)
    after["key_fingerprint"] = first_key
    path.write_bytes(b"".join(canonical_json(head) + b"\n" for head in heads))
    _fails_at(export, after["last_seq"])


def test_substituted_public_key_is_caught(export: Path) -> None:
    genuine = (export / "public_key.fingerprint").read_text().strip()
    impostor = Ed25519PrivateKey.generate().public_key()
    (export / "public_key.pem").write_bytes(impostor.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    (export / "public_key.fingerprint").write_text(key_fingerprint(impostor) + "\n")
    with pytest.raises(VerifyError):
        verify_export(export)
    with pytest.raises(VerifyError, match="is not the trusted key"):
        verify_export(export, trusted_fingerprint=genuine)


def test_trusted_fingerprint_and_kept_checkpoint_accepted(export: Path, log: dict[str, Path]) -> None:
    kept = (log["early"] / "checkpoint").read_text()
    fingerprint = (log["early"] / "public_key.fingerprint").read_text()
    report = verify_export(export, trusted_checkpoint=kept, trusted_fingerprint=fingerprint)
    assert report.trusted_size == verify_export(log["early"]).tree_size < report.tree_size


def test_kept_checkpoint_from_another_log_is_refused(export: Path) -> None:
    stranger = sign_checkpoint("appliance.local/audit", 3, b"\x07" * 32, Ed25519PrivateKey.generate(), "appliance.local/audit")
    with pytest.raises(VerifyError, match="not signed by any key of this log"):
        verify_export(export, trusted_checkpoint=stranger)


def test_truncated_and_rewritten_log_is_caught_against_a_kept_checkpoint(tmp_path: Path) -> None:
    keys.init_keys(tmp_path / "keys")
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with AuditLog.open(url, tmp_path / "keys") as store:
        _fill(store, 8, 0)
        export_audit(store, tmp_path / "kept")
    kept = (tmp_path / "kept" / "checkpoint").read_text()
    kept_size = verify_export(tmp_path / "kept").tree_size

    with sqlite3.connect(tmp_path / "audit.db") as db:  # an insider deletes the tail
        db.execute("DELETE FROM audit_records WHERE seq >= ?", (kept_size - 20,))
    with pytest.raises(LogTailMismatch, match="truncated"):  # the store notices (test_audit_tail.py)
        AuditLog.open(url, tmp_path / "keys")
    with AuditLog.open(url, tmp_path / "keys", accept_loss=True) as store:  # the operator carries on anyway
        export_audit(store, tmp_path / "truncated")
    verify_export(tmp_path / "truncated")  # consistent with itself: only the kept checkpoint can tell
    error = _fails_at(tmp_path / "truncated", kept_size - 18, trusted_checkpoint=kept)  # + audit_integrity, export
    assert "truncated" in str(error)

    with AuditLog.open(url, tmp_path / "keys") as store:  # ... and writes a longer history over it
        _fill(store, 6, 50)
        export_audit(store, tmp_path / "rewritten")
    assert verify_export(tmp_path / "rewritten").tree_size > kept_size
    with pytest.raises(VerifyError, match="rewritten"):
        verify_export(tmp_path / "rewritten", trusted_checkpoint=kept)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit.verify", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_cli_exit_codes(export: Path, log: dict[str, Path]) -> None:
    ok = _cli(str(export), "--trusted-checkpoint", str(log["early"] / "checkpoint"))
    assert ok.returncode == 0, ok.stderr
    fingerprint = (export / "public_key.fingerprint").read_text().strip()
    assert "OK:" in ok.stdout and fingerprint in ok.stdout and "trusted checkpoint of size" in ok.stdout

    lines = _lines(export)
    with _records_replaced(export, lines[:7] + [lines[7].replace(b'"allow"', b'"block"').replace(b'"redact"', b'"block"')] + lines[8:]):
        failed = _cli(str(export))
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1].startswith("FAILED: record 7:"), failed.stderr

    missing = _cli(str(export / "nope"))
    assert missing.returncode == 1 and "FAILED:" in missing.stderr


def test_verifier_imports_only_stdlib_cryptography_and_its_audit_modules() -> None:
    probe = (
        "import sys; before = set(sys.modules); import audit.verify; "
        "print('\\n'.join(sorted(set(sys.modules) - before)))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    allowed_audit = {"audit", "audit.format", "audit.merkle", "audit.checkpoint", "audit.verify", "audit.verify_files",
                     "audit.verify_rules", "audit.verify_parallel"}
    # cryptography's own native parts: cffi's backend and the Rust extension's `_openssl` submodule.
    # __mp_main__: the alias multiprocessing registers for the main module (workers parse big exports).
    allowed_top = set(sys.stdlib_module_names) | {"cryptography", "_cffi_backend", "_openssl", "__mp_main__"}
    outside = [m for m in loaded if m.split(".")[0] not in allowed_top and m not in allowed_audit]
    assert "audit.verify" in loaded
    assert outside == []
