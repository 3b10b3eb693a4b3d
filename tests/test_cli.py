"""The `appliance` CLI as an IT admin uses it: init, keys, config errors, all with readable output."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from appliance.auth import KeyStore
from appliance.datadir import DataDir
from audit.log import AuditLog
from tests.appliance_server import init_data_dir, run_cli


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "data"
    init_data_dir(path)
    return path


def audit_kinds(data_dir: Path) -> list[tuple[str, dict]]:
    store = AuditLog.open(f"sqlite:///{data_dir / 'audit.db'}", data_dir / "keys")
    try:
        return [(r["kind"], r) for r in store.reader.read_records()]
    finally:
        store.close()


def test_init_sets_up_keys_model_and_private_files(data_dir: Path) -> None:
    data = DataDir(data_dir)
    assert data.initialised
    assert (data_dir / "keys").stat().st_mode & 0o777 == 0o700
    for secret in (data_dir / "keys").iterdir():
        assert secret.stat().st_mode & 0o777 == 0o600, secret
    assert data.api_keys.stat().st_mode & 0o777 == 0o600
    assert "smollm2-135m-instruct" in run_cli("models", "list", data_dir=data_dir).stdout
    kinds = [kind for kind, _ in audit_kinds(data_dir)]
    assert kinds.count("key_change") == 3 and "model_import" in kinds and "init" in kinds


def test_init_twice(data_dir: Path) -> None:
    again = run_cli("init", "--if-missing", data_dir=data_dir)
    assert "already initialised" in again.stdout
    refused = run_cli("init", data_dir=data_dir, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0 and "already initialised" in refused.stderr


def test_keys_create_prints_the_key_alone_on_the_last_line(data_dir: Path) -> None:
    out = run_cli("keys", "create", "--role", "auditor", "--name", "officer-1", data_dir=data_dir).stdout
    token = out.strip().splitlines()[-1]
    assert token.startswith("apl_") and " " not in token
    principal = KeyStore(DataDir(data_dir).api_keys).authenticate(token)
    assert principal is not None and principal.role == "auditor" and principal.name == "officer-1"
    stored = DataDir(data_dir).api_keys.read_text()
    assert token.split("_", 2)[2] not in stored  # only the hash is kept
    listing = run_cli("keys", "list", data_dir=data_dir).stdout
    assert "officer-1" in listing and token not in listing


def test_revoked_key_stops_working_and_the_change_is_audited(data_dir: Path) -> None:
    token = run_cli("keys", "create", "--role", "clinical", "--name", "temp", data_dir=data_dir).stdout.split()[-1]
    key_id = token.split("_")[1]
    assert "revoked" in run_cli("keys", "revoke", key_id, data_dir=data_dir).stdout
    assert KeyStore(DataDir(data_dir).api_keys).authenticate(token) is None
    changes = [r for kind, r in audit_kinds(data_dir) if kind == "key_change" and r["key_id"] == key_id]
    assert [r["action"] for r in changes] == ["create", "revoke"]


@pytest.mark.parametrize("args, message", [
    (["keys", "create", "--role", "superuser", "--name", "x"],
     "unknown role 'superuser'; choose one of clinical, auditor, admin"),
    (["keys", "revoke", "nosuchkey"], "no key with id 'nosuchkey'"),
    (["keys", "create", "--role", "clinical", "--name", "x", "--purpose", "marketing"],
     "unknown purpose 'marketing'; choose one of treatment, payment, operations, billing, research"),
])
def test_bad_key_commands_fail_with_one_line(data_dir: Path, args: list[str], message: str) -> None:
    result = run_cli(*args, data_dir=data_dir, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {message}"


def test_serve_refuses_a_bad_config_with_one_line_per_field(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "appliance.toml").write_text("[server]\nport = 0\n[engine]\nthreads = -1\n")
    result = run_cli("serve", data_dir=data_dir, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert len(lines) == 2
    assert lines[0].startswith("error: config error: server.port:")
    assert lines[1].startswith("error: config error: engine.threads:")


def test_serve_refuses_an_uninitialised_data_dir(tmp_path: Path) -> None:
    result = run_cli("serve", data_dir=tmp_path / "empty", check=False)
    assert result.returncode == 1
    assert "not initialised: run `appliance init" in result.stderr


def test_scan_jsonl_prints_one_findings_list_per_line() -> None:
    lines = ['"Call Dr. Sarah Connor at 617-555-0142."', '"Vitals stable, BP 120/80, continue metformin 500 mg."']
    result = run_cli("scan", "--jsonl", stdin="\n".join(lines) + "\n")
    first, second = [json.loads(line) for line in result.stdout.splitlines()]
    assert {f["entity_type"] for f in first} >= {"PERSON", "PHONE_NUMBER"}
    assert all(set(f) == {"start", "end", "entity_type", "score"} for f in first)
    text = json.loads(lines[0])
    assert "617-555-0142" in {text[f["start"]:f["end"]] for f in first}
    assert second == []


def test_scan_jsonl_refuses_a_line_that_is_not_a_json_string() -> None:
    result = run_cli("scan", "--jsonl", stdin='"fine"\n{"text": 1}\n', check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: stdin line 2: expected a JSON string, got dict"


def test_scan_text_shows_the_decision_for_a_zone() -> None:
    result = run_cli("scan", "Card 4111 1111 1111 1111 exp 09/28", "--zone", "external")
    report = json.loads(result.stdout)
    assert report["decision"]["action"] == "block" and report["decision"]["text"] is None
    assert "pci:pan-external-block" in report["decision"]["rules"]


def test_doctor_prints_mode_allow_list_and_counters(data_dir: Path) -> None:
    report = json.loads(run_cli("doctor", data_dir=data_dir).stdout)
    assert report["egress"]["mode"] == "air-gapped"
    assert sum(report["egress"]["counters"]["blocked"].values()) == 0
    assert report["audit_url"].startswith("sqlite:///")


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg://audit:Wr0ng-h0rse@127.0.0.1:5432/test", "postgresql+psycopg://audit:***@127.0.0.1:5432/test"),
    ("postgresql+psycopg://audit@127.0.0.1/test?sslmode=disable&password=Wr0ng-h0rse",
     "postgresql+psycopg://audit@127.0.0.1/test?sslmode=disable&password=***"),
])
def test_doctor_never_prints_the_audit_database_password(tmp_path: Path, url: str, shown: str) -> None:
    result = run_cli("doctor", data_dir=tmp_path, env={"APPLIANCE_AUDIT_URL": url})
    assert "Wr0ng-h0rse" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["audit_url"] == shown


def test_serve_refuses_a_default_model_whose_bytes_changed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init_data_dir(data_dir)
    stored = data_dir / "models" / "smollm2-135m-instruct.gguf"
    tampered = tmp_path / "tampered.gguf"
    shutil.copyfile(stored, tampered)  # a new inode: the installed original stays intact
    with open(tampered, "r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 0x01]))
    os.replace(tampered, stored)
    result = run_cli("serve", data_dir=data_dir, check=False)
    assert result.returncode == 1
    assert "default model 'smollm2-135m-instruct' refused" in result.stderr and "sha256 mismatch" in result.stderr
    assert "Traceback" not in result.stderr


def test_rotate_key_is_announced_under_the_old_key_and_exports_still_verify(data_dir: Path, tmp_path: Path) -> None:
    rotated = run_cli("audit", "rotate-key", data_dir=data_dir).stdout
    old, new = rotated.strip().rsplit(" ", 3)[-3], rotated.strip().rsplit(" ", 1)[-1]
    assert old != new
    [rotation] = [r for kind, r in audit_kinds(data_dir) if kind == "key_rotation"]
    assert rotation["new_key_fingerprint"] == new
    run_cli("audit", "export", "--out", str(tmp_path / "export"), data_dir=data_dir)
    verified = run_cli("audit", "verify", str(tmp_path / "export"))
    assert old in verified.stdout and new in verified.stdout
