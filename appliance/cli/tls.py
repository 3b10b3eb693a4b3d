"""`appliance tls`: a local CA and server certificate for a first start, client certificates for
mutual TLS, and a CSR (then `install`) for a certificate from the hospital CA."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from appliance.cli.common import DataDirOption, one_line_errors
from appliance.config import TlsConfig
from appliance.tls import certs

tls_app = typer.Typer(help="TLS certificates for serving on the network.", no_args_is_help=True,
                      pretty_exceptions_enable=False)

HostOption = Annotated[str, typer.Option("--host", help="DNS name clients use to reach the appliance.")]
IpOption = Annotated[list[str] | None, typer.Option("--ip", help="IP address clients may use (repeatable).")]


def tls_dir(data_dir: Path) -> Path:
    """`D/tls` (mode 0700): CA, server and client certificates and keys."""
    folder = data_dir / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def colon_hex(hex_digest: str) -> str:
    """A fingerprint as `openssl x509 -fingerprint` and browsers show it."""
    return ":".join(hex_digest[i:i + 2] for i in range(0, len(hex_digest), 2)).upper()


def _local_ca(folder: Path, host: str) -> tuple[Any, Any]:
    """The local CA in `folder`, created on first use; kept afterwards so clients keep trusting it."""
    key_path, cert_path = folder / "ca.key", folder / "ca.pem"
    if key_path.exists() and cert_path.exists():
        return certs.load_key(key_path), certs.load_cert(cert_path)
    key, cert = certs.make_ca(f"Appliance local CA ({host})")
    certs.write_key(key_path, key)
    certs.write_pem(cert_path, cert)
    return key, cert


def _config_lines(client_ca: bool = False) -> str:
    lines = '[server.tls]\ncert_file = "tls/server.pem"\nkey_file = "tls/server.key"\n'
    return lines + ('client_ca = "tls/ca.pem"\n' if client_ca else "")


@tls_app.command("selfsigned")
def selfsigned(host: HostOption, ip: IpOption = None, data_dir: DataDirOption = Path("data"),
               days: Annotated[int, typer.Option(min=1, max=certs.LEAF_DAYS)] = certs.LEAF_DAYS) -> None:
    """A local CA (created once, then reused) and a fresh server certificate signed by it.

    Run it again to renew the server certificate, then send the server SIGHUP."""
    with one_line_errors():
        folder = tls_dir(data_dir)
        ca_key, ca_cert = _local_ca(folder, host)
        key = certs.new_key()
        cert = certs.issue(ca_key, ca_cert, key.public_key(), host, hosts=[host], ips=ip or [], days=days)
        certs.write_key(folder / "server.key", key)
        certs.write_pem(folder / "server.pem", cert)
    ca = certs.describe(ca_cert)
    typer.echo(f"server certificate {folder / 'server.pem'} for {host} {' '.join(ip or [])}".rstrip()
               + f", valid until {cert.not_valid_after_utc:%Y-%m-%d}")
    typer.echo(f"CA certificate for clients: {folder / 'ca.pem'}")
    typer.echo(f"CA fingerprint (SHA-256): {colon_hex(ca.sha256)}")
    typer.echo(f"add to {data_dir / 'appliance.toml'}:\n{_config_lines()}", nl=False)


@tls_app.command("client")
def client(name: Annotated[str, typer.Option("--name", help="Who the certificate is for (its CN).")],
           data_dir: DataDirOption = Path("data")) -> None:
    """A client certificate signed by the local CA, for mutual TLS (`client_ca = "tls/ca.pem"`)."""
    with one_line_errors():
        folder = tls_dir(data_dir)
        if not (folder / "ca.key").exists():
            raise ValueError(f"no local CA in {folder}: run `appliance tls selfsigned` first")
        ca_key, ca_cert = certs.load_key(folder / "ca.key"), certs.load_cert(folder / "ca.pem")
        key = certs.new_key()
        cert = certs.issue(ca_key, ca_cert, key.public_key(), name, client=True)
        out = folder / "clients"
        certs.write_key(out / f"{name}.key", key)
        certs.write_pem(out / f"{name}.pem", cert)
    typer.echo(f"client certificate {out / (name + '.pem')}, key {out / (name + '.key')}")
    typer.echo(f"fingerprint sha256:{certs.describe(cert).sha256}")


@tls_app.command("csr")
def csr(host: HostOption, ip: IpOption = None, data_dir: DataDirOption = Path("data"),
        org: Annotated[str, typer.Option("--org", help="Organisation name in the subject.")] = "") -> None:
    """A new key (tls/pending.key) and a signing request (tls/server.csr) for the hospital CA."""
    with one_line_errors():
        folder = tls_dir(data_dir)
        key = certs.new_key()
        certs.write_key(folder / "pending.key", key)
        certs.write_pem(folder / "server.csr", certs.make_csr(key, host, ip or [], org))
    typer.echo(f"signing request {folder / 'server.csr'} (key kept in {folder / 'pending.key'})")
    typer.echo("when the CA returns the chain: appliance tls install CHAIN.pem, then send the server SIGHUP")


@tls_app.command("install")
def install(chain: Annotated[Path, typer.Argument(help="PEM chain from the CA, server certificate first.")],
            data_dir: DataDirOption = Path("data")) -> None:
    """Install the CA-signed chain for the key made by `tls csr` as tls/server.pem and tls/server.key."""
    with one_line_errors():
        folder = tls_dir(data_dir)
        pending = folder / "pending.key"
        if not pending.exists():
            raise ValueError(f"no pending key in {folder}: run `appliance tls csr` first")
        key = certs.load_key(pending)
        chain_certs = certs.load_chain(chain)
        if chain_certs[0].public_key() != key.public_key():
            raise ValueError(f"{chain}: its first certificate is not for the key made by `tls csr`")
        certs.write_pem(folder / "server.pem", *chain_certs)
        os.replace(pending, folder / "server.key")
    typer.echo(f"installed {folder / 'server.pem'}, valid until {chain_certs[0].not_valid_after_utc:%Y-%m-%d}")


def tls_report(config: TlsConfig | None) -> dict[str, Any]:
    """For `doctor`: the certificate configured, its days to expiry, or why it cannot be served."""
    if config is None:
        return {"enabled": False}
    from appliance.tls.context import TlsError
    from appliance.tls.serving import ServingTls

    try:
        return {"enabled": True, **ServingTls(config).report()}
    except TlsError as exc:
        return {"enabled": True, "error": str(exc)}
