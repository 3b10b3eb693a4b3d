"""Installer pieces that need no bundle: publisher keys, manifest format, the systemd unit, imports."""
from __future__ import annotations

import argparse
import ast
import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.config import load_settings
from appliance.tls import certs
from appliance.tls.serving import ServingTls
from installer import install
from installer.keys import keygen, load_private_key

REPO = Path(__file__).resolve().parents[1]
HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes",
             "CapabilityBoundingSet=", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_install_py_needs_only_the_standard_library() -> None:
    outside = {name for name in imported_modules(REPO / "installer" / "install.py")
               if name.split(".")[0] not in sys.stdlib_module_names and name not in {"installer.progress", "progress"}}
    assert outside == set()
    assert {name.split(".")[0] for name in imported_modules(REPO / "installer" / "progress.py")} <= sys.stdlib_module_names


def test_installer_imports_none_of_the_other_rooms() -> None:
    for module in (REPO / "installer").glob("*.py"):
        roots = {name.split(".")[0] for name in imported_modules(module)}
        assert not roots & {"appliance", "policies", "audit"}, module.name


def test_keygen_writes_a_private_key_only_its_owner_reads_and_prints_the_raw_key_fingerprint(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "installer", "keygen", "--out", str(tmp_path / "k")],
                            capture_output=True, text=True, cwd=REPO, check=True)
    private = tmp_path / "k" / "publisher.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    raw = load_private_key(tmp_path / "k").public_key().public_bytes(serialization.Encoding.Raw,
                                                                      serialization.PublicFormat.Raw)
    assert result.stdout.strip() == hashlib.sha256(raw).hexdigest()
    assert install.fingerprint(install.raw_public_key((tmp_path / "k" / "publisher.pub").read_bytes())) == result.stdout.strip()
    again = subprocess.run([sys.executable, "-m", "installer", "keygen", "--out", str(tmp_path / "k")],
                           capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr


def test_keygen_refuses_to_overwrite_an_existing_key(tmp_path: Path) -> None:
    keygen(tmp_path)
    before = (tmp_path / "publisher.key").read_bytes()
    with pytest.raises(FileExistsError):
        keygen(tmp_path)
    assert (tmp_path / "publisher.key").read_bytes() == before


@pytest.mark.parametrize("manifest, reason", [
    (b"something else\n", "does not start with"),
    (install.MANIFEST_HEADER.encode() + b"\n" + b"a" * 64 + b"  12  ../etc/passwd\n", "not allowed"),
    (install.MANIFEST_HEADER.encode() + b"\n" + b"a" * 64 + b"  12  /etc/passwd\n", "not allowed"),
    (install.MANIFEST_HEADER.encode() + b"\n" + b"a" * 64 + b"  twelve  wheels/x.whl\n", "line 2"),
    (install.MANIFEST_HEADER.encode() + b"\n" + b"a" * 64 + b"  1  MANIFEST.sig\n", "not allowed"),
])
def test_malformed_manifests_are_refused(manifest: bytes, reason: str) -> None:
    with pytest.raises(install.Refused, match=reason):
        install.parse_manifest(manifest)


def test_manifest_round_trips() -> None:
    entries = {"wheels/a b.whl": ("1" * 64, 3), "install.py": ("2" * 64, 10)}
    assert install.parse_manifest(install.format_manifest(entries)) == entries


def installed_prefix(tmp_path: Path) -> tuple[Path, Path]:
    """P/bin/appliance running this checkout's CLI (as the installed launcher runs the installed one), and D."""
    prefix, data = tmp_path / "opt", tmp_path / "data"
    (prefix / "bin").mkdir(parents=True)
    data.mkdir(mode=0o700)
    launcher = prefix / "bin" / "appliance"
    launcher.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m appliance.cli.main "$@"\n')
    launcher.chmod(0o755)
    return prefix, data


def write_unit(tmp_path: Path, config: str, allow: list[str], listen: str = "127.0.0.1", port: int = 8443) -> str:
    prefix, data = installed_prefix(tmp_path)
    (data / "appliance.toml").write_text(config)
    text = install.unit_text(prefix, data, "appliance", "0.1.0", install.allowed_networks(data, allow), listen, port)
    (tmp_path / "appliance.service").write_text(text)
    return text


BACKENDS = """
[egress]
mode = "connected"
[[backends]]
name = "fleet"
kind = "upstream"
base_url = "http://198.51.100.40:8000"
model = "big"
[[backends]]
name = "cloud"
kind = "external"
base_url = "https://api.example.invalid"
model = "bigger"
[audit]
url = "postgresql+psycopg://audit@198.51.100.50:5432/audit"
"""


def test_unit_is_hardened_and_allows_only_loopback_and_internal_backends(tmp_path: Path) -> None:
    lines = write_unit(tmp_path, BACKENDS, ["203.0.113.0/24"]).splitlines()
    for line in HARDENING + ["IPAddressDeny=any", f"ReadWritePaths={tmp_path / 'data'}", "User=appliance"]:
        assert line in lines
    allowed = [line.split("=", 1)[1] for line in lines if line.startswith("IPAddressAllow=")]
    assert allowed == ["127.0.0.1", "::1", "203.0.113.0/24", "198.51.100.40", "198.51.100.50"]  # never the external backend
    assert (f"ExecStart={tmp_path / 'opt' / 'bin' / 'appliance'} serve --data-dir {tmp_path / 'data'} "
            "--host 127.0.0.1 --port 8443") in lines


def test_unit_serves_on_the_listen_address_lets_client_subnets_in_and_reload_renews_the_certificate(tmp_path: Path) -> None:
    lines = write_unit(tmp_path, "", ["203.0.113.0/24", "2001:db8:7::/48"], "198.51.100.15", 9443).splitlines()
    assert (f"ExecStart={tmp_path / 'opt' / 'bin' / 'appliance'} serve --data-dir {tmp_path / 'data'} "
            "--host 198.51.100.15 --port 9443") in lines
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines  # systemctl reload = SIGHUP = certificate renewal
    allowed = [line.split("=", 1)[1] for line in lines if line.startswith("IPAddressAllow=")]
    assert allowed == ["127.0.0.1", "::1", "203.0.113.0/24", "2001:db8:7::/48"]
    assert "IPAddressDeny=any" in lines


def test_bad_allow_ip_is_refused(tmp_path: Path) -> None:
    with pytest.raises(install.Refused, match="not an IP address"):
        install.allowed_networks(tmp_path, ["hospital-lan"])


def test_systemd_analyze_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    write_unit(tmp_path, BACKENDS, ["203.0.113.0/24"], "0.0.0.0")
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "appliance.service")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "appliance.service" not in result.stderr, result.stderr  # every warning names the unit file


def test_systemd_install_into_a_temporary_directory_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(REPO / "installer" / "install.py"), "--prefix", str(tmp_path / "opt"),
                             "--data-dir", str(tmp_path / "data"), "--trust", "0" * 64, "--systemd"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "PrivateTmp" in result.stderr or "needs root" in result.stderr
    assert not (tmp_path / "opt").exists() and not (tmp_path / "data").exists()


def test_llama_builds_are_portable_and_cached_per_baseline_and_flags() -> None:
    from installer.llama_wheel import BASELINES, cache_key, cmake_args

    keys = {cache_key(baseline) for baseline in BASELINES}
    assert len(keys) == len(BASELINES) and all(key.startswith("llama-cpp-python-0.3.36-") for key in keys)
    for baseline in BASELINES:
        flags = cmake_args(baseline).split()
        assert "-DGGML_NATIVE=OFF" in flags and "-DGGML_AMX_INT8=OFF" in flags
        assert not any("native" in flag.lower() and flag != "-DGGML_NATIVE=OFF" for flag in flags)
    assert "-DGGML_AVX2=ON" in cmake_args("x86-64-v3") and "-DGGML_AVX2=OFF" in cmake_args("x86-64-v2")
    with pytest.raises(ValueError, match="unknown CPU baseline"):
        cmake_args("native")


def tls_args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(**{"listen": "127.0.0.1", "tls_name": "appliance.ward.example", "tls_cert": None,
                                 "tls_key": None, **values})


def served_tls(data: Path) -> ServingTls:
    """What `appliance serve` on 0.0.0.0 builds from the data directory: TLS settings, checked files, context."""
    tls = load_settings(data_dir=data, environ={"APPLIANCE_SERVER_HOST": "0.0.0.0"}).server.tls
    assert tls is not None
    return ServingTls(tls)


def test_install_without_a_certificate_makes_a_local_ca_and_configures_tls_once(tmp_path: Path) -> None:
    prefix, data = installed_prefix(tmp_path)
    assert install.tls_source(data, None, None) == "selfsigned"
    install.prepare_tls(prefix, data, tls_args(listen="198.51.100.15"), "selfsigned")
    key = data / "tls" / "server.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_uid == os.geteuid()
    served = served_tls(data)
    leaf = x509.load_pem_x509_certificate((data / "tls" / "server.pem").read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["appliance.ward.example"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["198.51.100.15"]
    ca = x509.load_pem_x509_certificate((data / "tls" / "ca.pem").read_bytes())
    leaf.verify_directly_issued_by(ca)  # clients trusting D/tls/ca.pem accept the served certificate
    assert served.days_to_expiry() > 390
    assert install.tls_source(data, None, None) == "configured"  # an upgrade keeps it
    with pytest.raises(install.Refused, match=r"already has \[server.tls\]"):
        install.tls_source(data, data / "tls" / "server.pem", key)


def test_install_with_the_operators_certificate_copies_it_private_and_configures_tls(tmp_path: Path) -> None:
    prefix, data = installed_prefix(tmp_path)
    hospital_key, hospital_ca = certs.make_ca("Hospital issuing CA")
    key = certs.new_key()
    leaf = certs.issue(hospital_key, hospital_ca, key.public_key(), "llm.hospital.example", hosts=["llm.hospital.example"])
    operator = tmp_path / "from-it"
    certs.write_pem(operator / "chain.pem", leaf, hospital_ca)
    certs.write_key(operator / "server.key", key)
    (operator / "server.key").chmod(0o640)  # as IT handed it over
    assert install.tls_source(data, operator / "chain.pem", operator / "server.key") == "operator"
    install.prepare_tls(prefix, data, tls_args(tls_cert=operator / "chain.pem", tls_key=operator / "server.key"), "operator")
    copied = data / "tls" / "server.key"
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600 and copied.read_bytes() == (operator / "server.key").read_bytes()
    assert served_tls(data).cert == certs.describe(leaf)
    assert len(certs.load_chain(data / "tls" / "server.pem")) == 2


def test_tls_install_options_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "chain.pem").write_text("not a certificate")
    with pytest.raises(install.Refused, match="go together"):
        install.tls_source(tmp_path, tmp_path / "chain.pem", None)
    with pytest.raises(install.Refused, match="not a PEM certificate chain"):
        install.tls_source(tmp_path, tmp_path / "chain.pem", tmp_path / "chain.pem")
    with pytest.raises(install.Refused, match="cannot read"):
        install.tls_source(tmp_path, tmp_path / "missing.pem", tmp_path / "missing.key")
    with pytest.raises(install.Refused, match="not an IP address"):
        install.check_listen("appliance.ward.example", [])
