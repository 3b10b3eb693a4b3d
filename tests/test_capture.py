"""Encrypted capture: opt-in, ciphertext only at rest, erasure per data subject keeps the chain valid."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from audit import keys
from audit.capture import CaptureError, CaptureErased, CaptureVault
from audit.export import export_audit
from audit.log import AuditLog
from audit.verify import verify_export
from tests.conftest_audit import assert_chain_verifies, new_store

PROMPT = "Summarise the discharge letter of Jane Roe, MRN 889123, DOB 1941-03-02."
ANSWER = "Jane Roe (MRN 889123) was discharged on day 4 after an uneventful recovery."


@pytest.fixture()
def store(tmp_path: Path):
    with new_store(tmp_path) as opened:
        yield opened


@pytest.fixture()
def vault(store: AuditLog, tmp_path: Path) -> CaptureVault:
    keys.init_capture_key(tmp_path / "keys")
    return CaptureVault(store)


def database_bytes(tmp_path: Path) -> bytes:
    return b"".join(path.read_bytes() for path in tmp_path.glob("audit.db*"))


def test_capture_is_opt_in(store: AuditLog) -> None:
    with pytest.raises(keys.KeyFileError, match="encrypted capture is not enabled"):
        CaptureVault(store)


def test_master_key_file_is_private(vault: CaptureVault, tmp_path: Path) -> None:
    path = tmp_path / "keys" / keys.CAPTURE_KEY_FILE
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(keys.KeyFileError, match="refusing to overwrite"):
        keys.init_capture_key(tmp_path / "keys")


def test_captured_text_reads_back_and_is_stored_encrypted(vault: CaptureVault, store: AuditLog, tmp_path: Path) -> None:
    prompt_ref = vault.capture("patient-4711", PROMPT)
    answer_ref = vault.capture("patient-4711", ANSWER)
    store.append("request", {"prompt_digest": store.digest(PROMPT), "prompt_capture": prompt_ref, "answer_capture": answer_ref})
    assert vault.read(prompt_ref) == PROMPT and vault.read(answer_ref) == ANSWER
    on_disk = database_bytes(tmp_path)
    for secret in (b"Jane Roe", b"889123", b"patient-4711"):
        assert secret not in on_disk
    assert PROMPT not in str(store.reader.read_records())


def test_erasure_makes_only_that_subjects_text_unreadable_and_the_chain_still_verifies(
    vault: CaptureVault, store: AuditLog, tmp_path: Path
) -> None:
    erased_ref = vault.capture("patient-4711", PROMPT)
    kept_ref = vault.capture("patient-0815", ANSWER)
    store.append_many([("request", {"prompt_capture": erased_ref}), ("request", {"prompt_capture": kept_ref})])
    records_before = store.reader.read_records()

    assert vault.erase("patient-4711") == 1
    with pytest.raises(CaptureErased, match="erased"):
        vault.read(erased_ref)
    assert vault.read(kept_ref) == ANSWER

    records = assert_chain_verifies(store)
    assert records[:2] == records_before
    erasure = records[-1]
    assert erasure["kind"] == "erasure" and erasure["captures"] == 1
    assert erasure["subject_digest"] == store.digest("patient-4711")
    assert "patient-4711" not in str(records)
    assert verify_export(export_audit(store, tmp_path / "export").directory).records == len(records) + 1


def test_a_subject_captured_again_after_erasure_gets_a_new_key(vault: CaptureVault) -> None:
    old_ref = vault.capture("patient-4711", PROMPT)
    vault.erase("patient-4711")
    new_ref = vault.capture("patient-4711", ANSWER)
    assert vault.read(new_ref) == ANSWER
    with pytest.raises(CaptureErased):
        vault.read(old_ref)


def test_altered_or_unknown_captures_are_refused(vault: CaptureVault, tmp_path: Path) -> None:
    ref = vault.capture("patient-4711", PROMPT)
    other = vault.capture("patient-0815", ANSWER)
    with sqlite3.connect(tmp_path / "audit.db") as db:  # move another row's ciphertext under this reference
        db.execute("UPDATE audit_captures SET ciphertext = (SELECT ciphertext FROM audit_captures WHERE ref = ?) WHERE ref = ?",
                   (other, ref))
    with pytest.raises(CaptureError, match="altered"):
        vault.read(ref)
    with pytest.raises(CaptureError, match="no capture"):
        vault.read("0" * 32)
