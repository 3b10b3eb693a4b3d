"""Exports written from a real store: contents, partial (time-window) exports, refusals."""
from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from audit import keys
from audit.checkpoint import verify_checkpoint
from audit.export import ExportError, export_audit
from audit.checkpoint import key_fingerprint
from audit.format import canonical_json
from audit.log import AuditLog
from audit.verify import VerifyError, verify_export

EXPECTED_FILES = {
    "records.jsonl", "heads.jsonl", "key_rotations.jsonl", "checkpoint", "public_key.pem",
    "public_key.fingerprint", "proofs.json", "manifest.json", "manifest.sig",
}


def _requests(count: int, tag: str) -> list[tuple[str, dict]]:
    return [("inference", {"request_id": f"{tag}-{i}", "decision": "allow", "tokens": i}) for i in range(count)]


def _pause() -> None:
    time.sleep(0.005)  # so consecutive commits get distinct timestamps


@pytest.fixture()
def store(tmp_path: Path):
    keys.init_keys(tmp_path / "keys")
    with AuditLog.open(f"sqlite:///{tmp_path / 'audit.db'}", tmp_path / "keys") as opened:
        yield opened


def test_full_export_contents(store: AuditLog, tmp_path: Path) -> None:
    first_fingerprint = store.signing_fingerprint
    for i in range(5):
        store.append_many(_requests(10, f"g{i}"))
    summary = export_audit(store, tmp_path / "out", actor="auditor-1")
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == EXPECTED_FILES

    records = [json.loads(line) for line in (out / "records.jsonl").read_bytes().splitlines()]
    assert [r["seq"] for r in records] == list(range(51))
    assert (out / "records.jsonl").read_bytes() == b"".join(canonical_json(r) + b"\n" for r in records)
    assert records[-1]["kind"] == "export" and records[-1]["actor"] == "auditor-1"
    assert records[-1]["since"] is None and records[-1]["until"] is None

    public_key = load_pem_public_key((out / "public_key.pem").read_bytes())
    assert key_fingerprint(public_key) == first_fingerprint == (out / "public_key.fingerprint").read_text().strip()
    checkpoint = verify_checkpoint((out / "checkpoint").read_text(), public_key, store.origin)
    assert checkpoint.size == 51 == summary.tree_size and checkpoint.root.hex() == summary.root

    manifest_bytes = (out / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    assert set(manifest["files"]) == EXPECTED_FILES - {"manifest.json", "manifest.sig"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    public_key.verify(base64.b64decode((out / "manifest.sig").read_bytes()), manifest_bytes)

    report = verify_export(out, trusted_fingerprint=first_fingerprint)
    assert (report.records, report.root, report.first_ts) == (51, summary.root, records[0]["ts"])


def test_the_export_is_announced_in_the_log(store: AuditLog, tmp_path: Path) -> None:
    store.append_many(_requests(3, "a"))
    export_audit(store, tmp_path / "one")
    assert [r["kind"] for r in store.reader.read_records()] == ["inference"] * 3 + ["export"]


def test_time_window_export_follows_rotations_outside_the_window(store: AuditLog, tmp_path: Path) -> None:
    genesis = store.signing_fingerprint
    store.append_many(_requests(7, "before"))
    store.rotate_key()
    _pause()
    window = store.append_many(_requests(9, "in-1"))
    export_audit(store, tmp_path / "kept")  # the reviewer keeps this checkpoint
    for i in range(3):
        store.append_many(_requests(4, f"in-{i + 2}"))
    _pause()
    cut = datetime.now(timezone.utc)
    _pause()
    store.rotate_key()
    store.append_many(_requests(5, "after"))

    since = datetime.fromisoformat(window[0].ts)
    summary = export_audit(store, tmp_path / "slice", since=since, until=cut)
    out = tmp_path / "slice"
    records = [json.loads(line) for line in (out / "records.jsonl").read_bytes().splitlines()]
    assert records[0]["request_id"] == "in-1-0" and records[-1]["request_id"] == "in-4-3"
    assert summary.first_seq == window[0].seq and summary.last_seq == records[-1]["seq"] < summary.tree_size - 1
    rotations = [json.loads(line)["record"] for line in (out / "key_rotations.jsonl").read_bytes().splitlines()]
    assert [r["kind"] for r in rotations] == ["key_rotation", "key_rotation"]
    assert rotations[0]["seq"] < summary.first_seq and rotations[1]["seq"] > summary.last_seq

    kept = (tmp_path / "kept" / "checkpoint").read_text()
    report = verify_export(out, trusted_checkpoint=kept, trusted_fingerprint=genesis)
    assert report.key_rotations == 2 and report.signing_key_fingerprint == store.signing_fingerprint
    assert report.records == len(records) and report.trusted_size == verify_export(tmp_path / "kept").tree_size

    # Tampering with the slice's ends is still caught: they are tied to the checkpoint by inclusion proofs.
    path = out / "records.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    edited = {**records[0], "decision": "block"}
    path.write_bytes(canonical_json(edited) + b"\n" + b"".join(lines[1:]))
    with pytest.raises(VerifyError) as caught:
        verify_export(out)
    assert caught.value.seq == summary.first_seq
    path.write_bytes(b"".join(lines))

    proofs = json.loads((out / "proofs.json").read_text())
    proofs["inclusion"][str(summary.last_seq)].reverse()
    (out / "proofs.json").write_text(json.dumps(proofs))
    with pytest.raises(VerifyError, match="not included in the signed checkpoint") as caught:
        verify_export(out)
    assert caught.value.seq == summary.last_seq


def test_rotation_after_the_window_is_needed_to_trust_the_checkpoint(store: AuditLog, tmp_path: Path) -> None:
    store.append_many(_requests(4, "a"))
    _pause()
    cut = datetime.now(timezone.utc)
    _pause()
    store.rotate_key()
    store.append_many(_requests(4, "b"))
    out = tmp_path / "early-part"
    summary = export_audit(store, out, until=cut)
    assert (summary.first_seq, summary.last_seq) == (0, 3)
    assert verify_export(out).key_rotations == 1
    (out / "key_rotations.jsonl").write_bytes(b"")
    with pytest.raises(VerifyError, match="not signed by the log's current key"):
        verify_export(out)


def test_refusals(store: AuditLog, tmp_path: Path) -> None:
    store.append_many(_requests(2, "a"))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("keep me")
    with pytest.raises(ExportError, match="not empty"):
        export_audit(store, tmp_path / "busy")
    assert (tmp_path / "busy" / "x").read_text() == "keep me"
    with pytest.raises(ValueError, match="time zone"):
        export_audit(store, tmp_path / "naive", since=datetime(2020, 1, 1))
    assert store.reader.size() == 2  # refused before anything was announced
    with pytest.raises(ExportError, match="no audit records"):
        export_audit(store, tmp_path / "empty", until=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert not (tmp_path / "empty").exists()
    assert store.reader.read_records()[-1]["kind"] == "export"  # the attempt itself stays on record
