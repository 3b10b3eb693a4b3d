"""Configuration: one TOML file plus `APPLIANCE_<SECTION>_<KEY>` environment overrides
(`APPLIANCE_SERVER_TLS_<KEY>` for `[server.tls]`); a list setting takes comma-separated items
(`APPLIANCE_SERVER_TRUSTED_PROXIES`: addresses and networks separated by commas).

Everything is validated at start; every bad field is reported on its own line, naming where the
value came from (file or environment variable).
"""
from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from appliance.egress.policy import is_loopback

ENV_PREFIX = "APPLIANCE_"
CONFIG_FILE_NAME = "appliance.toml"
ENV_SECTIONS = frozenset({"server", "engine", "audit", "policy", "egress", "console"})
# Tables inside a section that the environment reaches too: APPLIANCE_SERVER_TLS_CERT_FILE -> server.tls.cert_file
ENV_SUBSECTIONS = {"server": frozenset({"tls"})}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsConfig(_Section):
    """`[server.tls]`: PEM certificate chain and key (key 0600, owned by the service user); with
    `client_ca`, every client must present a certificate issued by that CA (mutual TLS)."""

    cert_file: Path
    key_file: Path
    client_ca: Path | None = None
    min_version: Literal["1.2", "1.3"] = "1.2"
    expiry_warning_days: int = Field(30, ge=1, le=365)


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback addresses; anything else (names, 0.0.0.0, ::) is network-facing."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServerConfig(_Section):
    """The HTTP boundary. Bodies are counted as they arrive (413 past `max_body_bytes`, 408 when the
    whole body takes longer than `body_timeout_seconds`); `max_header_bytes` bounds the request head;
    beyond `limit_concurrency` connections uvicorn answers 503. `X-Forwarded-For` is believed only
    from `trusted_proxies` (IP addresses or CIDR networks; none by default)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    body_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576)
    limit_concurrency: int = Field(64, ge=1, le=100_000)
    trusted_proxies: list[str] = Field(default_factory=list)
    metrics_require_key: bool = True
    auth_failure_window_seconds: float = Field(60.0, gt=0, le=86_400)
    tls: TlsConfig | None = None
    plain_http_behind_proxy: bool = False

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
        return entries

    @model_validator(mode="after")
    def _no_plain_http_off_loopback(self) -> ServerConfig:
        if self.tls is not None or is_loopback_host(self.host):
            return self
        if not self.plain_http_behind_proxy:
            raise ValueError(f"refusing plain HTTP on non-loopback address {self.host!r}: configure [server.tls], "
                             "or set plain_http_behind_proxy = true with trusted_proxies")
        if not self.trusted_proxies:
            raise ValueError("plain_http_behind_proxy = true needs trusted_proxies (the addresses of the proxies "
                             "that terminate TLS)")
        return self


class EngineConfig(_Section):
    default_model: str = "smollm2-135m-instruct"
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    context_length: int = Field(2048, ge=128, le=131072)  # per sequence: each slot has this much
    parallel: int = Field(8, ge=1, le=256)  # sequences decoded together per chat model (slots)
    prefill_chunk: int = Field(64, ge=8, le=8192)  # prompt tokens evaluated per decode step
    batch_size: int = Field(512, ge=1, le=8192)  # embedding models: the most tokens one input may have
    max_queue: int = Field(8, ge=0, le=10_000)
    retry_after_seconds: int = Field(2, ge=1, le=3600)
    default_max_tokens: int = Field(256, ge=1)


class AuditConfig(_Section):
    url: str = ""
    checkpoint_every: int = Field(1000, ge=1)
    checkpoint_seconds: float = Field(60.0, gt=0)
    capture: bool = False


class PolicyConfig(_Section):
    packs_dir: str = ""
    default_purpose: str = "treatment"


class BackendConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    kind: Literal["upstream", "external"]
    base_url: str = Field(pattern=r"^https?://")
    model: str
    style: Literal["openai", "anthropic"] = "openai"
    api_key_env: str = ""
    timeout_seconds: float = Field(60.0, gt=0)


class RouteWhen(_Section):
    aliases: list[str] | None = None
    task_hint: Literal["simple", "complex"] | None = None
    min_prompt_chars: int | None = Field(None, ge=0)
    max_prompt_chars: int | None = Field(None, ge=1)


class RouteRuleConfig(_Section):
    backend: str
    when: RouteWhen = Field(default_factory=RouteWhen)


class RoutingConfig(_Section):
    default: str = "local"
    aliases: dict[str, str] = Field(default_factory=dict)
    rules: list[RouteRuleConfig] = Field(default_factory=list)


class EgressConfig(_Section):
    """`air-gapped`: loopback only, every internal or external route refused (backends may stay
    configured). `connected`: the configured backends too. `loopback = "listed"` narrows loopback to
    127.0.0.1, ::1 and the configured backends."""

    mode: Literal["air-gapped", "connected"] = "air-gapped"
    loopback: Literal["any", "listed"] = "any"
    # Test only: lets an `external` backend on a loopback address speak plain http (stand-ins in tests).
    test_only_plain_http_loopback: bool = False


class ConsoleConfig(_Section):
    session_seconds: int = Field(1800, ge=10, le=86_400)  # a console session's lifetime after sign-in
    verify_seconds: float = Field(300.0, ge=1)  # how often the console re-checks the whole log in the background


class Settings(_Section):
    """The whole validated configuration."""

    data_dir: Path = Path("data")
    server: ServerConfig = Field(default_factory=ServerConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    egress: EgressConfig = Field(default_factory=EgressConfig)
    backends: list[BackendConfig] = Field(default_factory=list)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)

    @model_validator(mode="after")
    def _tls_paths_under_data_dir(self) -> Settings:
        """Relative `[server.tls]` paths name files in the data directory, wherever the process starts."""
        tls = self.server.tls
        if tls is not None:
            for name in ("cert_file", "key_file", "client_ca"):
                path = getattr(tls, name)
                if path is not None and not path.is_absolute():
                    setattr(tls, name, self.data_dir / path)
        return self

    @model_validator(mode="after")
    def _backends_consistent(self) -> Settings:
        names = [b.name for b in self.backends]
        if len(names) != len(set(names)):
            raise ValueError("backends: duplicate backend name")
        known = set(names) | {"local"}
        for alias, target in self.routing.aliases.items():
            if target not in known:
                raise ValueError(f"routing.aliases.{alias}: unknown backend {target!r}")
        for rule in self.routing.rules:
            if rule.backend not in known:
                raise ValueError(f"routing.rules: unknown backend {rule.backend!r}")
        if self.routing.default not in known:
            raise ValueError(f"routing.default: unknown backend {self.routing.default!r}")
        for backend in self.backends:
            if backend.kind == "external" and not self._transport_acceptable(backend.base_url):
                raise ValueError(f"backends.{backend.name}.base_url: an external backend must use https")
        return self

    @model_validator(mode="after")
    def _audit_url_within_mode(self) -> Settings:
        if self.egress.mode == "air-gapped":
            outside = [h for h in database_hosts(self.audit.url, os.environ) if not h.startswith("/") and not is_loopback(h)]
            if outside:
                raise ValueError(f"audit.url: air-gapped mode allows a database on loopback or a Unix socket only, "
                                 f"not {', '.join(outside)} (set egress.mode = \"connected\" for a database host)")
        return self

    def _transport_acceptable(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme == "https":
            return True
        return self.egress.test_only_plain_http_loopback and is_loopback(parts.hostname or "")

    @property
    def reachable_backend_urls(self) -> list[str]:
        """Backend URLs the egress guard lets through: none in air-gapped mode."""
        return [b.base_url for b in self.backends] if self.egress.mode == "connected" else []

    @property
    def audit_url(self) -> str:
        """The audit store URL; the embedded default is SQLite in the data directory."""
        return self.audit.url or f"sqlite:///{(self.data_dir / 'audit.db').resolve()}"


def database_hosts(url: str, environ: Mapping[str, str]) -> list[str]:
    """The hosts a database URL makes libpq connect to (URL host, `host`/`hostaddr` query values, or
    PGHOST/PGHOSTADDR when the URL names none); SQLite URLs name none."""
    if not url or url.startswith("sqlite"):
        return []
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    hosts = [parts.hostname] if parts.hostname else []
    for key in ("host", "hostaddr"):
        hosts += [h for value in query.get(key, []) for h in value.split(",") if h]
    if not hosts:
        hosts = [h for var in ("PGHOST", "PGHOSTADDR") for h in environ.get(var, "").split(",") if h]
    return hosts


def masked_url(url: str) -> str:
    """A database URL fit to print: its password (`user:***@host`, or a `password=` query value) masked,
    everything else as written."""
    parts = urlsplit(url)
    if parts.password is not None:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        url = url.replace(parts.netloc, f"{userinfo.partition(':')[0]}:***@{hostport}", 1)
    return re.sub(r"(?<=[?&])password=[^&#]*", "password=***", url)


class ConfigError(ValueError):
    """The configuration is invalid; the message has one line per bad field."""


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Nested overrides from `APPLIANCE_<SECTION>_<KEY>` variables, and where each came from."""
    overrides: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX):].lower()
        if rest == "data_dir":
            overrides["data_dir"] = value
            origins["data_dir"] = var
            continue
        path = _env_path(rest)
        if path:
            target = overrides
            for name in path[:-1]:
                target = target.setdefault(name, {})
            target[path[-1]] = _env_value(path, value)
            origins[".".join(path)] = var
    return overrides, origins


def _env_path(name: str) -> list[str]:
    """Where `<section>_<key>` (or `<section>_<table>_<key>`) points in the settings; [] if nowhere."""
    section, _, key = name.partition("_")
    if section not in ENV_SECTIONS or not key:
        return []
    table, _, table_key = key.partition("_")
    if table in ENV_SUBSECTIONS.get(section, frozenset()) and table_key:
        return [section, table, table_key]
    return [section, key]


def _env_value(path: list[str], value: str) -> Any:
    """A variable's text as its setting reads it: a list setting takes comma-separated items
    (an empty variable: an empty list); everything else is left to the setting's own validation."""
    annotation: Any = Settings
    for name in path:
        model = next((a for a in (annotation, *get_args(annotation))
                      if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None or name not in model.model_fields:
            return value
        annotation = model.model_fields[name].annotation
    if get_origin(annotation) is list:
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config error: {path}: file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config error: {path}: {exc}") from None


def load_settings(
    config_file: Path | None = None,
    *,
    data_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from (lowest to highest): defaults, the TOML file, environment, explicit overrides.

    Without `config_file`, `<data_dir>/appliance.toml` is read when it exists.
    """
    environ = os.environ if environ is None else environ
    env_values, origins = _env_overrides(environ)
    chosen_dir = data_dir or Path(env_values.get("data_dir", "data"))
    if config_file is None and (chosen_dir / CONFIG_FILE_NAME).is_file():
        config_file = chosen_dir / CONFIG_FILE_NAME
    raw: dict[str, Any] = _read_toml(config_file) if config_file else {}
    raw = _merge(raw, env_values)
    raw = _merge(raw, overrides or {})
    raw["data_dir"] = str(data_dir) if data_dir else raw.get("data_dir", str(chosen_dir))
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        source = str(config_file) if config_file else "defaults"
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "config"
            where = origins.get(loc, source)
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"config error: {loc}: {message} (from {where})")
        raise ConfigError("\n".join(lines)) from None
