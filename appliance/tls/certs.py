"""Certificates with `cryptography`: a local CA, server and client certificates, CSRs, and what a
certificate says (fingerprint, subject, expiry)."""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes as PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 397  # the longest validity browsers and most hospital PKIs accept for a leaf


class CertificateError(ValueError):
    """A certificate file is missing, unreadable or not a PEM certificate."""


@dataclass(frozen=True)
class CertInfo:
    """What the appliance needs to know about one certificate."""

    sha256: str  # hex SHA-256 of the DER encoding, the usual "fingerprint"
    subject: str  # RFC 4514, e.g. "CN=ward-7,O=St. Mary"
    not_after: datetime

    def days_to_expiry(self, now: datetime | None = None) -> float:
        now = now or datetime.now(timezone.utc)
        return (self.not_after - now).total_seconds() / 86400

    def fields(self) -> dict[str, object]:
        """As audit/readiness fields."""
        return {"cert_sha256": self.sha256, "subject": self.subject, "not_after": self.not_after.isoformat(),
                "days_to_expiry": round(self.days_to_expiry(), 2)}


def describe(cert: x509.Certificate) -> CertInfo:
    return CertInfo(cert.fingerprint(hashes.SHA256()).hex(), cert.subject.rfc4514_string(), cert.not_valid_after_utc)


def describe_pem(pem: str | bytes) -> CertInfo:
    data = pem.encode() if isinstance(pem, str) else pem
    return describe(x509.load_pem_x509_certificate(data))


def load_chain(path: Path) -> list[x509.Certificate]:
    """The certificates of a PEM chain file, leaf first."""
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except FileNotFoundError:
        raise CertificateError(f"{path}: certificate file not found") from None
    except (OSError, ValueError) as exc:
        raise CertificateError(f"{path}: not a PEM certificate chain ({exc})") from None


def read_leaf(path: Path) -> CertInfo:
    """The first certificate of a PEM chain file (the server's own)."""
    return describe(load_chain(path)[0])


def served_names(path: Path) -> list[str]:
    """The names a client may use for the leaf of a PEM chain file: its DNS names, then its IP addresses."""
    leaf = load_chain(path)[0]
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return names.get_values_for_type(x509.DNSName) + [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organization: str = "") -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _alt_names(hosts: Sequence[str], ips: Sequence[str]) -> x509.SubjectAlternativeName:
    try:
        addresses = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    except ValueError as exc:
        raise CertificateError(f"--ip: {exc}") from None
    return x509.SubjectAlternativeName([*(x509.DNSName(h) for h in hosts), *addresses])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: PublicKey, days: int) -> x509.CertificateBuilder:
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def make_ca(common_name: str, days: int = CA_DAYS) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A local certificate authority (self-signed, may sign leaves only)."""
    key = new_key()
    name = _name(common_name)
    cert = (_builder(name, name, key.public_key(), days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, public_key: PublicKey,
          common_name: str, *, hosts: Sequence[str] = (), ips: Sequence[str] = (), client: bool = False,
          days: int = LEAF_DAYS) -> x509.Certificate:
    """A leaf for `public_key` signed by the CA: a server certificate for `hosts`/`ips`, or a client certificate."""
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (_builder(_name(common_name), ca_cert.subject, public_key, days)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False))
    if hosts or ips:
        builder = builder.add_extension(_alt_names(hosts, ips), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def make_csr(key: ec.EllipticCurvePrivateKey, host: str, ips: Sequence[str], organization: str = "") -> x509.CertificateSigningRequest:
    """A certificate signing request for the hospital CA: CN and DNS name `host`, plus IP addresses."""
    return (x509.CertificateSigningRequestBuilder().subject_name(_name(host, organization))
            .add_extension(_alt_names([host], ips), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write a sibling temp file and rename it over `path`, so a running server never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), mode)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """A private key, PEM (PKCS#8, unencrypted: the service reads it unattended), mode 0600."""
    _write_atomic(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()), 0o600)


def write_pem(path: Path, *objects: x509.Certificate | x509.CertificateSigningRequest) -> None:
    """Certificates (a chain, leaf first) or a CSR, PEM, mode 0644 (public)."""
    _write_atomic(path, b"".join(o.public_bytes(serialization.Encoding.PEM) for o in objects), 0o644)


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{path}: not an EC private key")
    return key


def load_cert(path: Path) -> x509.Certificate:
    return load_chain(path)[0]
