"""Configuration: TOML plus APPLIANCE_* overrides, every bad field reported on its own line."""
from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    return path


def test_defaults_are_air_gapped_on_loopback_with_embedded_sqlite(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, environ={})
    assert settings.server.host == "127.0.0.1" and settings.server.port == 8080
    assert settings.egress.mode == "air-gapped"
    assert settings.audit_url == f"sqlite:///{(tmp_path / 'audit.db').resolve()}"


def test_file_then_environment_then_explicit_overrides(tmp_path: Path) -> None:
    config = write(tmp_path, "[server]\nport = 9001\n[engine]\nthreads = 3\n")
    settings = load_settings(config, data_dir=tmp_path, environ={"APPLIANCE_ENGINE_THREADS": "5"},
                             overrides={"server": {"port": 9002}})
    assert settings.engine.threads == 5
    assert settings.server.port == 9002


def test_a_list_setting_takes_comma_separated_items_from_the_environment(tmp_path: Path) -> None:
    config = write(tmp_path, '[server]\ntrusted_proxies = ["127.0.0.9"]\n')
    variable = "APPLIANCE_SERVER_TRUSTED_PROXIES"
    assert load_settings(config, data_dir=tmp_path, environ={}).server.trusted_proxies == ["127.0.0.9"]
    assert load_settings(config, data_dir=tmp_path, environ={variable: "127.0.0.5, 127.1.0.0/16"}
                         ).server.trusted_proxies == ["127.0.0.5", "127.1.0.0/16"]
    assert load_settings(config, data_dir=tmp_path, environ={variable: ""}).server.trusted_proxies == []
    with pytest.raises(ConfigError) as bad:
        load_settings(config, data_dir=tmp_path, environ={variable: "127.0.0.5,gateway"})
    assert str(bad.value) == ("config error: server.trusted_proxies: 'gateway' is not an IP address or CIDR network "
                              f"(from {variable})")


def test_data_dir_config_file_is_read_by_default(tmp_path: Path) -> None:
    write(tmp_path, "[engine]\nmax_queue = 3\n")
    assert load_settings(data_dir=tmp_path, environ={}).engine.max_queue == 3


def test_every_bad_field_is_reported_with_its_origin(tmp_path: Path) -> None:
    config = write(tmp_path, "[server]\nport = 70000\n[engine]\nthreads = 'many'\nbogus = 1\n")
    with pytest.raises(ConfigError) as bad:
        load_settings(config, data_dir=tmp_path, environ={"APPLIANCE_AUDIT_CHECKPOINT_EVERY": "0"})
    lines = str(bad.value).splitlines()
    assert len(lines) == 4
    assert any(line.startswith("config error: server.port:") and str(config) in line for line in lines)
    assert any(line.startswith("config error: engine.threads:") for line in lines)
    assert any(line.startswith("config error: engine.bogus:") and "Extra inputs" in line for line in lines)
    assert any("audit.checkpoint_every" in line and "APPLIANCE_AUDIT_CHECKPOINT_EVERY" in line for line in lines)


def test_broken_toml_names_the_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path, "[server]\nport = = 1\n")
    with pytest.raises(ConfigError, match=r"appliance.toml: .*line 2"):
        load_settings(config, data_dir=tmp_path, environ={})


def test_air_gapped_mode_keeps_backends_out_of_the_egress_allow_list(tmp_path: Path) -> None:
    config = write(tmp_path, '[[backends]]\nname = "fleet"\nkind = "upstream"\nbase_url = "http://127.0.0.2:9"\nmodel = "m"\n')
    assert load_settings(config, data_dir=tmp_path, environ={}).reachable_backend_urls == []
    connected = load_settings(config, data_dir=tmp_path, environ={"APPLIANCE_EGRESS_MODE": "connected"})
    assert connected.reachable_backend_urls == ["http://127.0.0.2:9"]


def test_routing_must_name_configured_backends(tmp_path: Path) -> None:
    config = write(tmp_path, '[egress]\nmode = "connected"\n[routing]\naliases = { big = "nowhere" }\n')
    with pytest.raises(ConfigError, match="routing.aliases.big: unknown backend 'nowhere'"):
        load_settings(config, data_dir=tmp_path, environ={})


EXTERNAL = '[egress]\nmode = "connected"\n{extra}[[backends]]\nname = "cloud"\nkind = "external"\nbase_url = "{url}"\nmodel = "m"\n'


@pytest.mark.parametrize("url", ["http://api.example.invalid", "http://127.0.0.2:9"])
def test_an_external_backend_over_plain_http_is_refused(tmp_path: Path, url: str) -> None:
    config = write(tmp_path, EXTERNAL.format(extra="", url=url))
    with pytest.raises(ConfigError, match="backends.cloud.base_url: an external backend must use https"):
        load_settings(config, data_dir=tmp_path, environ={})


def test_the_test_only_allowance_admits_plain_http_to_loopback_stand_ins_only(tmp_path: Path) -> None:
    allowance = "test_only_plain_http_loopback = true\n"
    loopback = write(tmp_path, EXTERNAL.format(extra=allowance, url="http://127.0.0.2:9"))
    assert load_settings(loopback, data_dir=tmp_path, environ={}).backends[0].base_url == "http://127.0.0.2:9"
    outside = write(tmp_path, EXTERNAL.format(extra=allowance, url="http://api.example.invalid"))
    with pytest.raises(ConfigError, match="must use https"):
        load_settings(outside, data_dir=tmp_path, environ={})
    https = write(tmp_path, EXTERNAL.format(extra="", url="https://api.example.invalid"))
    assert load_settings(https, data_dir=tmp_path, environ={}).backends[0].base_url == "https://api.example.invalid"


@pytest.mark.parametrize("url", ["postgresql+psycopg://app@db.hospital.internal:5432/audit",
                                 "postgresql+psycopg://app@127.0.0.1:5432/audit?host=198.51.100.3",
                                 "postgresql+psycopg://app@/audit?hostaddr=192.0.2.7"])
def test_air_gapped_mode_refuses_an_audit_database_off_loopback(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"audit.url: air-gapped mode allows a database on loopback"):
        load_settings(data_dir=tmp_path, environ={"APPLIANCE_AUDIT_URL": url})
    connected = load_settings(data_dir=tmp_path, environ={"APPLIANCE_AUDIT_URL": url, "APPLIANCE_EGRESS_MODE": "connected"})
    assert connected.audit_url == url


@pytest.mark.parametrize("url", ["postgresql+psycopg://app@127.0.0.1:5432/test", "postgresql+psycopg://app@localhost/test",
                                 "postgresql+psycopg://app@/test?host=/var/run/postgresql", ""])
def test_air_gapped_mode_accepts_a_loopback_or_socket_audit_database(tmp_path: Path, url: str) -> None:
    assert load_settings(data_dir=tmp_path, environ={"APPLIANCE_AUDIT_URL": url}).egress.mode == "air-gapped"


def test_air_gapped_mode_checks_pghost_when_the_url_names_no_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGHOST", "db.hospital.internal")
    with pytest.raises(ConfigError, match="not db.hospital.internal"):
        load_settings(data_dir=tmp_path, environ={"APPLIANCE_AUDIT_URL": "postgresql+psycopg:///audit"})


def test_trusted_proxies_are_addresses_or_networks(tmp_path: Path) -> None:
    good = write(tmp_path, '[server]\ntrusted_proxies = ["127.0.0.1", "198.51.100.0/24", "::1"]\n')
    assert load_settings(good, data_dir=tmp_path, environ={}).server.trusted_proxies == ["127.0.0.1", "198.51.100.0/24", "::1"]
    assert load_settings(data_dir=tmp_path / "none", environ={}).server.trusted_proxies == []
    bad = write(tmp_path, '[server]\ntrusted_proxies = ["proxy.local"]\n')
    with pytest.raises(ConfigError, match=r"server.trusted_proxies: .*'proxy.local' is not an IP address"):
        load_settings(bad, data_dir=tmp_path, environ={})


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "198.51.100.3", "appliance.ward.example"])
def test_a_non_loopback_bind_without_tls_is_refused_in_validation(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(data_dir=tmp_path, environ={"APPLIANCE_SERVER_HOST": host})
    [line] = str(refused.value).splitlines()
    assert line.startswith("config error: server:") and f"refusing plain HTTP on non-loopback address '{host}'" in line


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_binds_need_no_tls(tmp_path: Path, host: str) -> None:
    assert load_settings(data_dir=tmp_path, environ={"APPLIANCE_SERVER_HOST": host}).server.tls is None


def test_plain_http_off_loopback_only_behind_named_trusted_proxies(tmp_path: Path) -> None:
    behind = write(tmp_path, '[server]\nhost = "0.0.0.0"\nplain_http_behind_proxy = true\n')
    with pytest.raises(ConfigError, match="plain_http_behind_proxy = true needs trusted_proxies"):
        load_settings(behind, data_dir=tmp_path, environ={})
    named = write(tmp_path, '[server]\nhost = "0.0.0.0"\nplain_http_behind_proxy = true\ntrusted_proxies = ["198.51.100.5"]\n')
    assert load_settings(named, data_dir=tmp_path, environ={}).server.trusted_proxies == ["198.51.100.5"]


def test_tls_allows_any_bind_and_relative_files_are_in_the_data_dir(tmp_path: Path) -> None:
    config = write(tmp_path, '[server]\nhost = "0.0.0.0"\n[server.tls]\ncert_file = "tls/server.pem"\n'
                             'key_file = "/etc/appliance/server.key"\nmin_version = "1.3"\n')
    tls = load_settings(config, data_dir=tmp_path, environ={}).server.tls
    assert tls is not None and tls.cert_file == tmp_path / "tls" / "server.pem"
    assert str(tls.key_file) == "/etc/appliance/server.key" and tls.client_ca is None and tls.min_version == "1.3"
    bad = write(tmp_path, '[server.tls]\ncert_file = "a.pem"\nkey_file = "a.key"\nmin_version = "1.1"\n')
    with pytest.raises(ConfigError, match="server.tls.min_version"):
        load_settings(bad, data_dir=tmp_path, environ={})


def test_server_tls_is_settable_from_the_environment_over_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, '[server.tls]\ncert_file = "tls/old.pem"\nkey_file = "tls/server.key"\n')
    environ = {"APPLIANCE_SERVER_HOST": "0.0.0.0", "APPLIANCE_SERVER_TLS_CERT_FILE": "tls/server.pem",
               "APPLIANCE_SERVER_TLS_CLIENT_CA": "/etc/appliance/clients-ca.pem",
               "APPLIANCE_SERVER_TLS_MIN_VERSION": "1.3", "APPLIANCE_SERVER_TLS_EXPIRY_WARNING_DAYS": "45"}
    tls = load_settings(config, data_dir=tmp_path, environ=environ).server.tls
    assert tls is not None and tls.cert_file == tmp_path / "tls" / "server.pem"  # environment over file
    assert tls.key_file == tmp_path / "tls" / "server.key"  # the file's value where the environment names none
    assert str(tls.client_ca) == "/etc/appliance/clients-ca.pem" and tls.min_version == "1.3"
    assert tls.expiry_warning_days == 45
    only_env = {"APPLIANCE_SERVER_TLS_CERT_FILE": "/srv/tls/a.pem", "APPLIANCE_SERVER_TLS_KEY_FILE": "/srv/tls/a.key"}
    assert load_settings(data_dir=tmp_path / "none", environ=only_env).server.tls is not None
    with pytest.raises(ConfigError) as bad:
        load_settings(config, data_dir=tmp_path, environ={"APPLIANCE_SERVER_TLS_MIN_VERSION": "1.1"})
    [line] = str(bad.value).splitlines()
    assert line.startswith("config error: server.tls.min_version:") and "(from APPLIANCE_SERVER_TLS_MIN_VERSION)" in line
