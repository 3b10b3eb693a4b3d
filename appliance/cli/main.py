"""The `appliance` command. The egress guard is installed before anything else is imported."""
from __future__ import annotations

from appliance.egress import install_egress_guard

GUARD = install_egress_guard()

import json  # noqa: E402  (after the guard on purpose)
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Optional  # noqa: E402

import typer  # noqa: E402

from appliance.cli.audit import audit_app  # noqa: E402
from appliance.cli.common import DataDirOption, one_line_errors  # noqa: E402
from appliance.cli.keys import keys_app, mint_key  # noqa: E402
from appliance.cli.models import models_app  # noqa: E402
from appliance.cli.report import report_command  # noqa: E402
from appliance.cli.scan import scan_command  # noqa: E402
from appliance.cli.tls import tls_app, tls_report  # noqa: E402
from appliance.config import ServerConfig, database_hosts, load_settings, masked_url  # noqa: E402

app = typer.Typer(help="Air-gapped compliance LLM appliance.", no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False)
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")
app.add_typer(tls_app, name="tls")
app.command("scan")(scan_command)
app.command("report")(report_command)

os.umask(0o077)  # everything the appliance writes (store, keys, exports) is private to its user

ConfigOption = Annotated[Optional[Path], typer.Option("--config", help="TOML config file (default: DATA_DIR/appliance.toml).")]


@app.command()
def init(data_dir: DataDirOption = Path("data"),
         if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing if already initialised.")] = False) -> None:
    """Create the data directory: audit keys, the default model, and one key per role (printed once).

    With --if-missing on an existing directory, a changed appliance version (upgrade, rollback) is
    recorded in the audit log."""
    from appliance.setup import initialise, record_version_change

    with one_line_errors():
        created = initialise(data_dir, if_missing=if_missing)
        change = record_version_change(data_dir) if created is None else None
    if created is None:
        typer.echo(f"{data_dir} is already initialised")
        if change:
            typer.echo(f"recorded version change {change[0]} -> {change[1]} in the audit log")
        return
    typer.echo(f"initialised {data_dir}: audit signing key {created.fingerprint}, model {created.model_id}")
    typer.echo("API keys (shown once; only their hashes are stored):")
    for role, token in created.tokens.items():
        typer.echo(f"  {role:9s} {token}")


@app.command()
def serve(
    data_dir: DataDirOption = Path("data"),
    config: ConfigOption = None,
    host: Annotated[Optional[str], typer.Option(help="Address to listen on.")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port to listen on.")] = None,
    dev_key: Annotated[bool, typer.Option("--dev-key", help="Mint a fresh clinical key named 'dev' and print it.")] = False,
) -> None:
    """Serve the OpenAI-compatible API (HTTPS when [server.tls] is configured)."""
    GUARD.refuse_spawning()  # the serving process starts no programs: a child would run outside the guard
    from appliance.api.app import create_app
    from appliance.server import serve_app
    from appliance.services import open_services

    overrides: dict[str, dict[str, object]] = {"server": {}}
    if host:
        overrides["server"]["host"] = host
    if port:
        overrides["server"]["port"] = port
    with one_line_errors():
        settings = load_settings(config, data_dir=data_dir, overrides=overrides)
        services = open_services(settings, GUARD)
    if dev_key:
        token = mint_key(services.keys, services.audit, "dev", "clinical", "treatment", replace=True)
        typer.echo(f"clinical API key (dev): {token}")
    scheme = "https" if services.tls is not None else "http"
    url = f"{scheme}://{settings.server.host}:{settings.server.port}/v1"
    typer.echo(f"serving {url} (mode {settings.egress.mode}, model {settings.engine.default_model})", err=True)
    typer.echo(f"engine: {settings.engine.default_model}: "
               f"{services.engine.load(settings.engine.default_model).describe()}", err=True)
    sys.stdout.flush()
    if not serve_app(create_app(services), uvicorn_options(settings.server), services.tls):
        raise typer.Exit(3)


def uvicorn_options(server: ServerConfig) -> dict[str, object]:
    """uvicorn pinned to what the guard can see and the limits the configuration sets: the asyncio loop
    (uvloop's sockets live in C), the h11 parser (header size bound), proxy headers only from
    `trusted_proxies`, and a bound on concurrent connections (503 beyond it)."""
    return {"host": server.host, "port": server.port, "log_level": "warning", "access_log": False,
            "timeout_graceful_shutdown": 5, "loop": "asyncio", "http": "h11",
            "h11_max_incomplete_event_size": server.max_header_bytes, "limit_concurrency": server.limit_concurrency,
            "proxy_headers": bool(server.trusted_proxies),
            "forwarded_allow_ips": ",".join(server.trusted_proxies) or "127.0.0.1"}


@app.command()
def selftest(
    data_dir: DataDirOption = Path("data"),
    config: ConfigOption = None,
    ca_file: Annotated[Optional[Path], typer.Option(
        "--ca-file", help="CA certificate clients trust (default: DATA_DIR/tls/ca.pem, the local CA).")] = None,
    client_cert: Annotated[Optional[Path], typer.Option(
        "--client-cert", help="Client certificate (PEM, key beside it as .key) when mutual TLS is on.")] = None,
    url: Annotated[Optional[str], typer.Option(
        "--url", help="Probe this running service (https://HOST:PORT) instead of serving briefly on loopback.")] = None,
) -> None:
    """Check this installation end to end: model, detector, audit log, egress guard, HTTPS. Exit 1 on a failure."""
    from appliance.cli.selftest import report_selftest, run_selftest
    from appliance.cli.selftest_tls import TlsProbe
    from appliance.services import open_services

    with one_line_errors():
        settings = load_settings(config, data_dir=data_dir)
        services = open_services(settings, GUARD)
    try:
        probe = TlsProbe(ca_file, client_cert, url, uvicorn_options(settings.server))
        results = run_selftest(services, probe)
        typer.echo(report_selftest(services, results))
    finally:
        services.close()
    if not all(result.ok for result in results):
        raise typer.Exit(1)


@app.command()
def doctor(data_dir: DataDirOption = Path("data"), config: ConfigOption = None) -> None:
    """Print the egress mode, allow-list and guard counters, TLS certificate state, the configuration's
    health, and what the OS layer must add to the in-process guard."""
    from appliance.egress import EgressPolicy
    from appliance.egress.os_layer import os_layer_requirements

    with one_line_errors():
        settings = load_settings(config, data_dir=data_dir)
    policy = EgressPolicy.for_backend_urls(settings.egress.mode, settings.reachable_backend_urls, settings.egress.loopback)
    GUARD.configure(policy)
    report = {"data_dir": str(settings.data_dir), "audit_url": masked_url(settings.audit_url), "egress": GUARD.report(),
              "backends": [{"name": b.name, "kind": b.kind, "base_url": b.base_url} for b in settings.backends],
              "os_layer_must_add": os_layer_requirements(policy, database_hosts(settings.audit.url, os.environ),
                                                         str(settings.data_dir.resolve())),
              "tls": tls_report(settings.server.tls)}
    typer.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    app()
