"""The server's SSL context: TLS 1.2 at least (1.3 preferred), forward-secret AEAD ciphers only, and
client certificates from `client_ca` required when mutual TLS is on."""
from __future__ import annotations

import os
import ssl
from pathlib import Path

from appliance.config import TlsConfig

# TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AES-GCM or ChaCha20-Poly1305 only; no CBC,
# RC4, 3DES, static RSA, DHE, anonymous or export suites. TLS 1.3 suites are all AEAD (OpenSSL defaults).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"
MIN_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class TlsError(ValueError):
    """The TLS configuration cannot be served: the message says which file and why."""


def check_key_file(path: Path) -> None:
    """The private key must be a regular file, mode 0600 (or stricter) and owned by the service user."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise TlsError(f"TLS key file {path} not found") from None
    if info.st_mode & 0o077:
        raise TlsError(f"TLS key file {path} has mode {info.st_mode & 0o777:03o}; it must be 0600 "
                       f"(chmod 600 {path})")
    if info.st_uid != os.geteuid():
        raise TlsError(f"TLS key file {path} is owned by uid {info.st_uid}, not by the service user "
                       f"(uid {os.geteuid()})")


def load_chain(context: ssl.SSLContext, tls: TlsConfig) -> None:
    """Load the certificate chain and key into `context`, with a clear error naming the files."""
    check_key_file(tls.key_file)
    try:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    except FileNotFoundError:
        raise TlsError(f"TLS certificate file {tls.cert_file} not found") from None
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(f"TLS certificate {tls.cert_file} with key {tls.key_file} refused: {exc}") from None


def build_server_context(tls: TlsConfig) -> ssl.SSLContext:
    """A fresh server context for `tls`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_VERSIONS[tls.min_version]
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    load_chain(context, tls)
    if tls.client_ca is not None:
        try:
            context.load_verify_locations(cafile=str(tls.client_ca))
        except (ssl.SSLError, OSError) as exc:
            raise TlsError(f"TLS client CA {tls.client_ca} refused: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context
