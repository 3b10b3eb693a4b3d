"""The selftest's TLS step: `/readyz` over HTTPS as a client sees it (verified with the CA file clients
are given), and the served certificate's days to expiry.

Without `--url` the step serves this process's readiness routes on a free 127.0.0.1 port with the
configured `[server.tls]` (the context `serve` uses) and checks the certificate against the name it
was issued for; with `--url` it probes a running service."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.services import Services
from appliance.tls.certs import served_names
from appliance.tls.probe import Readiness, client_context, probe_readyz


@dataclass(frozen=True)
class TlsProbe:
    """What the TLS step is given: the CA file clients trust (default D/tls/ca.pem), a client certificate
    for mutual TLS, a running service's URL, and the uvicorn options `serve` would use."""

    ca_file: Path | None = None
    client_cert: Path | None = None
    url: str | None = None
    serve_options: dict[str, Any] = field(default_factory=dict)


def _probe_here(services: Services, probe: TlsProbe, ca_file: Path) -> tuple[str, Readiness]:
    """Serve this process's readiness routes over the configured TLS on loopback and probe them."""
    from appliance.api.app import create_readiness_app
    from appliance.server import served_on_loopback

    assert services.tls is not None
    names = served_names(services.tls.config.cert_file)
    if not names:
        raise RuntimeError(f"{services.tls.config.cert_file} names no DNS name or address (subjectAltName)")
    context = client_context(ca_file, probe.client_cert)
    with served_on_loopback(create_readiness_app(services), probe.serve_options, services.tls) as port:
        return f"https://{names[0]} (127.0.0.1:{port})", probe_readyz(f"https://127.0.0.1:{port}", context, names[0])


def https_readiness(services: Services, probe: TlsProbe) -> str:
    """Ready over HTTPS, the certificate verified with the CA file; its days to expiry."""
    if probe.url is None and services.tls is None:
        return "off: [server.tls] is not configured (plain HTTP, loopback only)"
    ca_file = probe.ca_file or services.data.root / "tls" / "ca.pem"
    if not ca_file.is_file():
        raise RuntimeError(f"no CA file {ca_file}: pass --ca-file (the CA certificate clients trust)")
    client_ca = services.settings.server.tls.client_ca if services.settings.server.tls else None
    if client_ca is not None and probe.client_cert is None:
        raise RuntimeError("mutual TLS is on: pass --client-cert (a client certificate from the client CA)")
    if probe.url is not None:
        if not probe.url.startswith("https://"):
            raise RuntimeError(f"{probe.url} is not an https URL")
        where, readiness = probe.url, probe_readyz(probe.url, client_context(ca_file, probe.client_cert))
    else:
        where, readiness = _probe_here(services, probe, ca_file)
    if not readiness.ready:
        raise RuntimeError(f"{where}/readyz answered {readiness.status} {readiness.body}")
    days = readiness.cert.days_to_expiry()
    warning_days = services.tls.config.expiry_warning_days if services.tls else 30
    renew = f" (renew it: within {warning_days} days)" if days <= warning_days else ""
    return (f"{where}/readyz ready over {readiness.version}, certificate verified with {ca_file}; "
            f"{readiness.cert.subject} expires in {days:.1f} days{renew}")
