"""The offline USB bundle end to end: build once (connected side), then verify, refuse, install
inside a network namespace with no network, self-test, serve, upgrade and roll back."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Iterator

import pytest

from installer import install
from installer.models import DEFAULT_MODEL_SHA256
from tests.installer_bundle import (REPO, Bundle, build_bundle, keygen, linked_copy, offline_install_and_chat,
                                    rewrite, run_install, source_tree_at_version)

pytestmark = pytest.mark.slow
VERSION_A = "0.1.0"


@pytest.fixture(scope="module")
def publisher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key_dir = tmp_path_factory.mktemp("publisher") / "key"
    keygen(key_dir)
    return key_dir


@pytest.fixture(scope="module")
def bundle(publisher: Path, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """Version A, built once for the module from this checkout."""
    return build_bundle(REPO, publisher, tmp_path_factory.mktemp("bundle-a"))


def manifest_entries(directory: Path) -> dict[str, tuple[str, int]]:
    return install.parse_manifest((directory / install.MANIFEST).read_bytes())


def test_bundle_lists_signs_and_describes_everything_it_carries(bundle: Bundle) -> None:
    entries = manifest_entries(bundle.directory)
    on_disk = {path.relative_to(bundle.directory).as_posix() for path in bundle.directory.rglob("*") if path.is_file()}
    assert set(entries) == on_disk - {install.MANIFEST, install.SIGNATURE}
    verified = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(bundle.directory / "publisher.pub"),
                               "-rawin", "-in", str(bundle.directory / "MANIFEST"), "-sigfile",
                               str(bundle.directory / "MANIFEST.sig")], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    info = json.loads((bundle.directory / "bundle.json").read_text())
    assert info["version"] == VERSION_A and "3.11" in info["pythons"]
    assert info["cpu_baseline"] == "x86-64-v3" and "-DGGML_NATIVE=OFF" in info["llama_cmake_args"]
    assert "-DGGML_AMX_INT8=OFF" in info["llama_cmake_args"]
    wheels = [name for name in entries if name.startswith("wheels/")]
    assert any(name.startswith("wheels/llama_cpp_python-0.3.36-py3-none-") for name in wheels)
    assert any(name.startswith(f"wheels/compliance_appliance-{VERSION_A}-") for name in wheels)
    assert entries["models/SmolLM2-135M-Instruct.Q4_1.gguf"][0] == DEFAULT_MODEL_SHA256
    assert {"packs/hipaa.toml", "packs/gdpr.toml", "packs/pci.toml", "install.py"} <= set(entries)
    sbom = json.loads((bundle.directory / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    hashes = {part["name"]: part["hashes"][0]["content"] for part in sbom["components"]}
    llama = next(name for name in wheels if "llama_cpp_python" in name)
    assert hashes["llama-cpp-python"] == entries[llama][0]
    assert hashes["smollm2-135m-instruct"] == DEFAULT_MODEL_SHA256
    assert len([part for part in sbom["components"] if part["type"] == "library"]) == len(wheels)
    assert next(part for part in sbom["components"] if part["name"] == "spacy")["licenses"] == [{"license": {"name": "MIT"}}]


def test_build_reports_sizes_and_what_to_publish(bundle: Bundle) -> None:
    assert bundle.tarball.stat().st_size > 50_000_000
    assert f"tarball {bundle.tarball}" in bundle.build_output
    assert "wheels for CPython 3.11" in bundle.build_output and "copying default model" in bundle.build_output
    assert bundle.manifest_sha256 == install.sha256_file(bundle.directory / "MANIFEST")


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    rewrite(path, bytes(data))


def sign_with_other_key(directory: Path, key_dir: Path, replace_public_key: bool) -> None:
    from installer.keys import load_private_key, public_pem

    keygen(key_dir)
    other = load_private_key(key_dir)
    rewrite(directory / "MANIFEST.sig", other.sign((directory / "MANIFEST").read_bytes()))
    if replace_public_key:
        rewrite(directory / "publisher.pub", public_pem(other))


def truncated_tarball(bundle: Bundle, scratch: Path) -> Path:
    """The tarball cut at 60 % (a copy that did not finish), extracted as far as it goes."""
    cut = scratch / "cut.tar"
    with open(bundle.tarball, "rb") as source, open(cut, "wb") as target:
        target.write(source.read(int(bundle.tarball.stat().st_size * 0.6)))
    with pytest.raises(tarfile.ReadError), tarfile.open(cut) as archive:
        archive.extractall(scratch / "out", filter="data")
    return scratch / "out" / bundle.directory.name


MUTATIONS = {
    "flipped byte in a wheel": (lambda d, s: flip_byte(next((d / "wheels").glob("llama_cpp_python-*.whl"))), "does not match its sha256"),
    "flipped byte in the model": (lambda d, s: flip_byte(d / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"), "does not match its sha256"),
    "missing file": (lambda d, s: (d / "packs" / "hipaa.toml").unlink(), "missing: packs/hipaa.toml"),
    "extra file": (lambda d, s: (d / "wheels" / "evil-1.0-py3-none-any.whl").write_bytes(b"PK"), "not in MANIFEST: wheels/evil"),
    "manifest signed by another key": (lambda d, s: sign_with_other_key(d, s / "other", True), "not the trusted"),
    "signature by another key": (lambda d, s: sign_with_other_key(d, s / "other", False), "not a valid signature"),
}


@pytest.mark.parametrize("mutation", [*MUTATIONS, "truncated tarball"])
def test_a_damaged_bundle_is_refused_before_anything_is_written(bundle: Bundle, tmp_path: Path, mutation: str) -> None:
    if mutation == "truncated tarball":
        damaged, reason = truncated_tarball(bundle, tmp_path), "is missing"
    else:
        damaged = linked_copy(bundle.directory, tmp_path / bundle.directory.name)
        change, reason = MUTATIONS[mutation]
        change(damaged, tmp_path)
    prefix, data_dir = tmp_path / "opt", tmp_path / "data"
    result = run_install(damaged, prefix, data_dir, "--trust", bundle.fingerprint)
    assert result.returncode == 2, result.stdout + result.stderr
    assert reason in result.stderr and "nothing was installed" in result.stderr
    assert not prefix.exists() and not data_dir.exists()


def test_wrong_published_manifest_hash_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    result = run_install(bundle.directory, tmp_path / "opt", tmp_path / "data", "--manifest-sha256", "0" * 64)
    assert result.returncode == 2 and "not the published" in result.stderr
    assert not (tmp_path / "opt").exists()


def test_offline_install_selftest_and_one_chat_completion(bundle: Bundle, tmp_path: Path) -> None:
    prefix, data_dir = tmp_path / "opt", tmp_path / "data"
    result = offline_install_and_chat(bundle, prefix, data_dir)
    assert result["interfaces"] == ["lo"]  # no network at all, loopback only
    assert result["install"]["rc"] == 0, result["install"]
    selftest = result["selftest"]
    assert selftest["rc"] == 0, selftest
    for step in ("model", "detector", "audit", "egress", "tls"):
        assert f"ok   {step}" in selftest["out"]
    assert f"certificate verified with {data_dir / 'tls' / 'ca.pem'}" in selftest["out"]
    assert "audit signing key fingerprint: " in selftest["out"]
    assert result["chat"]["choices"][0]["message"]["content"].strip()
    assert os.readlink(prefix / "current") == f"versions/{VERSION_A}"
    assert (prefix / "bin" / "appliance").resolve() == (prefix / "versions" / VERSION_A / "bin" / "appliance").resolve()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(key.stat().st_mode) == 0o600 for key in (data_dir / "keys").iterdir())
    unit = (prefix / "appliance.service").read_text().splitlines()
    assert "IPAddressDeny=any" in unit and "IPAddressAllow=127.0.0.1" in unit and "NoNewPrivileges=yes" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit and any(line.endswith("--port 8443") for line in unit)
    assert stat.S_IMODE((data_dir / "tls" / "server.key").stat().st_mode) == 0o600


def audit_records(prefix: Path, data_dir: Path, out: Path) -> list[dict]:
    """Export the installed appliance's log and verify it offline; returns its records."""
    appliance = str(prefix / "bin" / "appliance")
    subprocess.run([appliance, "audit", "export", "--out", str(out), "--data-dir", str(data_dir)], check=True,
                   capture_output=True)
    verified = subprocess.run([appliance, "audit", "verify", str(out)], capture_output=True, text=True)
    assert verified.returncode == 0 and verified.stdout.startswith("OK"), verified.stdout + verified.stderr
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


@pytest.fixture
def bundle_b(publisher: Path, tmp_path: Path) -> Iterator[Bundle]:
    """Version B: the same repository rebuilt at a newer version."""
    source = source_tree_at_version(tmp_path / "source-b", "0.1.1")
    yield build_bundle(source, publisher, tmp_path / "bundle-b")


def test_upgrade_keeps_the_log_verifying_and_rollback_returns_to_a(bundle: Bundle, bundle_b: Bundle, tmp_path: Path) -> None:
    prefix, data_dir = tmp_path / "opt", tmp_path / "data"
    assert run_install(bundle.directory, prefix, data_dir, "--trust", bundle.fingerprint).returncode == 0
    fingerprint_a = audit_records(prefix, data_dir, tmp_path / "export-a")[0]

    damaged = linked_copy(bundle_b.directory, tmp_path / "damaged-b")
    flip_byte(next((damaged / "wheels").glob("compliance_appliance-*.whl")))
    refused = run_install(damaged, prefix, data_dir, "--trust", bundle_b.fingerprint)
    assert refused.returncode == 2 and os.readlink(prefix / "current") == f"versions/{VERSION_A}"

    upgraded = run_install(bundle_b.directory, prefix, data_dir, "--trust", bundle_b.fingerprint)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert os.readlink(prefix / "current") == "versions/0.1.1" and (prefix / "versions" / VERSION_A).is_dir()
    records = audit_records(prefix, data_dir, tmp_path / "export-b")
    assert records[0] == fingerprint_a  # the same log, grown
    assert {"from": VERSION_A, "to": "0.1.1"} in [{k: r[k] for k in ("from", "to")} for r in records
                                                   if r["kind"] == "version_change"]

    rolled = run_install(bundle_b.directory, prefix, data_dir, "--rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert os.readlink(prefix / "current") == f"versions/{VERSION_A}"
    records = audit_records(prefix, data_dir, tmp_path / "export-rollback")
    assert [(r["from"], r["to"]) for r in records if r["kind"] == "version_change"] == [(VERSION_A, "0.1.1"), ("0.1.1", VERSION_A)]
