"""What the process may reach: the mode, how much of loopback, and the allow-listed backend endpoints.

Pure data and decisions, no sockets: the guard asks this policy about every connect, send and name
resolution it sees.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

Mode = Literal["air-gapped", "connected"]
LoopbackScope = Literal["any", "listed"]

MODES: tuple[str, ...] = ("air-gapped", "connected")
LOOPBACK_SCOPES: tuple[str, ...] = ("any", "listed")
LOOPBACK_NAME = "localhost"
# With loopback="listed" these stay reachable (the appliance itself, PostgreSQL on 127.0.0.1, ...).
BASE_LOOPBACK: frozenset[str] = frozenset({"127.0.0.1", "::1", LOOPBACK_NAME})
# Name resolvers that listen on loopback and forward queries off the machine (systemd-resolved's stubs
# on 127.0.0.53/54, dnsmasq on 127.0.0.1:53, DNS over TLS on 853): a DNS tunnel out of an air gap, so
# they are refused under either loopback scope unless a backend is configured on them explicitly.
RESOLVER_STUBS: frozenset[str] = frozenset({"127.0.0.53", "127.0.0.54"})
DNS_PORTS: frozenset[int] = frozenset({53, 853})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_host(host: str) -> str:
    """Canonical text of a host: IP addresses in compressed form (IPv4-mapped IPv6 as IPv4, zone id
    dropped), names lower-case without the trailing dot."""
    ip = parse_ip(host)
    if ip is not None:
        return str(ip)
    return host.strip().lower().rstrip(".")


def parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `host` spells, or None when it is a name."""
    text = host.strip().strip("[]").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_resolver(host: str, port: int | None) -> bool:
    """True for a loopback name resolver: a systemd-resolved stub address or a DNS port."""
    return normalize_host(host) in RESOLVER_STUBS or port in DNS_PORTS


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the name `localhost`."""
    ip = parse_ip(host)
    if ip is not None:
        return ip.is_loopback
    return normalize_host(host) == LOOPBACK_NAME


@dataclass(frozen=True)
class Endpoint:
    """One allow-listed destination: a host (IP or name) and a port (None: any port)."""

    host: str
    port: int | None = None

    def __post_init__(self) -> None:
        host = normalize_host(self.host)
        if not host:
            raise ValueError("egress allow-list entry has an empty host")
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"egress allow-list entry {host!r} has port {self.port} outside 1-65535")
        object.__setattr__(self, "host", host)

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        """The endpoint a backend base URL connects to, e.g. `https://api.example:443/v1`."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"backend URL {url!r} is not an http(s) URL with a host")
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError as exc:
            raise ValueError(f"backend URL {url!r} has a bad port") from exc
        return cls(parts.hostname, port)

    def matches(self, host: str, port: int | None) -> bool:
        return self.host == host and (self.port is None or self.port == port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


@dataclass(frozen=True)
class EgressPolicy:
    """`air-gapped` (default): loopback only. `connected`: loopback plus the allow-listed endpoints.
    `loopback="any"` allows all of 127.0.0.0/8 and ::1; `"listed"` narrows it to 127.0.0.1, ::1,
    `localhost` and allow-listed loopback endpoints. Neither admits a loopback name resolver
    (`is_resolver`) that is not allow-listed itself."""

    mode: Mode = "air-gapped"
    allow: tuple[Endpoint, ...] = ()
    loopback: LoopbackScope = "any"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"egress mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.loopback not in LOOPBACK_SCOPES:
            raise ValueError(f"egress loopback scope {self.loopback!r} is not one of {', '.join(LOOPBACK_SCOPES)}")
        object.__setattr__(self, "allow", tuple(self.allow))
        if not all(isinstance(e, Endpoint) for e in self.allow):
            raise ValueError("egress allow-list entries must be Endpoint(host, port) values")
        if self.mode == "air-gapped":
            outside = [str(e) for e in self.allow if not is_loopback(e.host)]
            if outside:
                raise ValueError(
                    f"air-gapped mode allows loopback only, but the allow-list names {', '.join(outside)}"
                    " (set the egress mode to 'connected' to reach them)"
                )

    @classmethod
    def for_backend_urls(cls, mode: Mode, urls: list[str], loopback: LoopbackScope = "any") -> EgressPolicy:
        """The policy that lets the process reach exactly the configured backends' base URLs."""
        return cls(mode=mode, allow=tuple(Endpoint.from_url(u) for u in urls), loopback=loopback)

    def permits_endpoint(self, host: str, port: int | None) -> bool:
        """May the process connect or send to `host`:`port` (host as given to the socket)?"""
        host = normalize_host(host)
        if is_loopback(host):
            if self._listed(host, port):
                return True
            return not is_resolver(host, port) and (self.loopback == "any" or host in BASE_LOOPBACK)
        return self.mode == "connected" and self._listed(host, port)

    def permits_name(self, name: str) -> bool:
        """May the process resolve `name`? Only loopback names and allow-listed names, never others."""
        name = normalize_host(name)
        return name == LOOPBACK_NAME or any(e.host == name for e in self.allow)

    def _listed(self, host: str, port: int | None) -> bool:
        return any(e.matches(host, port) for e in self.allow)

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "loopback": self.loopback, "allow": [str(e) for e in self.allow]}
