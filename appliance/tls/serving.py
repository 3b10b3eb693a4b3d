"""The live TLS state of a serving process: the SSL context uvicorn uses, the certificate it holds,
and renewal in place (new handshakes get the new chain; open connections keep theirs)."""
from __future__ import annotations

import ssl
import threading
from typing import Any

from appliance.config import TlsConfig
from appliance.tls.certs import CertificateError, CertInfo, read_leaf
from appliance.tls.context import TlsError, build_server_context, load_chain


class ServingTls:
    """One process's TLS: built at start (refusing bad files), renewed on SIGHUP."""

    def __init__(self, config: TlsConfig) -> None:
        self.config = config
        self.context = build_server_context(config)
        self.cert = self._read_leaf()
        self._lock = threading.Lock()

    def _read_leaf(self) -> CertInfo:
        try:
            return read_leaf(self.config.cert_file)
        except CertificateError as exc:
            raise TlsError(str(exc)) from None

    def reload(self) -> CertInfo:
        """Load the files again into the live context; on any problem keep serving the old chain.

        The new chain and key are proven on a scratch context first: a key that does not match its
        certificate would otherwise leave the live context half-changed."""
        with self._lock:
            load_chain(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), self.config)
            cert = self._read_leaf()
            load_chain(self.context, self.config)
            self.cert = cert
            return cert

    def days_to_expiry(self) -> float:
        return self.cert.days_to_expiry()

    @property
    def expiry_due(self) -> bool:
        """True within `expiry_warning_days` of the certificate's end (or after it)."""
        return self.days_to_expiry() <= self.config.expiry_warning_days

    def report(self) -> dict[str, Any]:
        """For /readyz and `doctor`: the certificate served, its days to expiry, and mutual TLS."""
        return {**self.cert.fields(), "min_version": self.config.min_version,
                "client_certificates": "required" if self.config.client_ca else "off",
                "expiry_warning": self.expiry_due}
