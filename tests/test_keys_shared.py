"""API keys with PostgreSQL: kept in the shared database, so several nodes accept the same keys and a
revocation on one node holds on every node at once; a node's JSON key file is migrated, never ignored."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import httpx
import psycopg
import pytest

from appliance.auth import StoredKey
from appliance.key_database import DatabaseKeyStore
from appliance.tls.certs import read_leaf
from audit.log import AuditLog
from tests.appliance_server import ApplianceServer, init_data_dir, run_cli
from tests.conftest_audit import PG_SERVER, fresh_pg_schema
from tests.test_mtls import MutualTls

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
NODE_CONFIG = """
[engine]
context_length = 512
default_max_tokens = 8

[audit]
url = "{url}"
"""


@pytest.fixture()
def pg_url() -> Iterator[str]:
    with fresh_pg_schema("keys_test") as url:
        yield url


def key_id(token: str) -> str:
    return token.split("_")[1]


def models_status(server: ApplianceServer, token: str) -> int:
    return httpx.get(server.base_url + "/models", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def test_two_nodes_accept_the_same_keys_and_a_revocation_on_one_holds_on_both(pg_url: str, tmp_path: Path) -> None:
    node_a, node_b = tmp_path / "a", tmp_path / "b"
    tokens_a = init_data_dir(node_a, NODE_CONFIG.format(url=pg_url))
    node_b.mkdir()
    shutil.copytree(node_a / "keys", node_b / "keys")  # every node holds the same audit keys (README)
    tokens_b = init_data_dir(node_b, NODE_CONFIG.format(url=pg_url))
    assert not (node_a / "api_keys.json").exists() and not (node_b / "api_keys.json").exists()
    ward = run_cli("keys", "create", "--role", "clinical", "--name", "ward-pc", data_dir=node_a).stdout.split()[-1]

    with ApplianceServer(node_a, tokens_a) as server_a, ApplianceServer(node_b, tokens_b) as server_b:
        for server in (server_a, server_b):
            assert models_status(server, ward) == 200
            assert models_status(server, tokens_a["clinical"]) == 200 and models_status(server, tokens_b["clinical"]) == 200
        run_cli("keys", "revoke", key_id(ward), data_dir=node_b)  # revoked on node B ...
        assert models_status(server_a, ward) == 401  # ... refused by node A at once
        assert models_status(server_b, ward) == 401
        assert models_status(server_a, tokens_b["clinical"]) == 200
    listed = run_cli("keys", "list", data_dir=node_a).stdout
    assert f"{key_id(ward)}  clinical  ward-pc" in listed and "revoked" in listed
    assert listed.count("initial-clinical") == 2  # both nodes' initial keys, one list


def test_a_json_key_file_is_migrated_once_and_refused_until_then(pg_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    tokens = init_data_dir(data_dir)  # SQLite default: keys in api_keys.json
    run_cli("keys", "revoke", key_id(tokens["auditor"]), data_dir=data_dir)
    (data_dir / "appliance.toml").write_text(NODE_CONFIG.format(url=pg_url))  # the node joins the PostgreSQL cluster

    for command in (["keys", "list"], ["serve", "--port", "1"]):
        refused = run_cli(*command, data_dir=data_dir, check=False)
        assert refused.returncode == 1, refused.stderr
        assert "api_keys.json still holds this node's API keys" in refused.stderr
        assert f"run `appliance keys migrate --data-dir {data_dir}` once" in refused.stderr

    migrated = run_cli("keys", "migrate", data_dir=data_dir)
    assert "migrated 3 API keys into the shared database" in migrated.stdout
    assert not (data_dir / "api_keys.json").exists() and (data_dir / "api_keys.json.migrated").exists()
    keys = DatabaseKeyStore(pg_url)
    try:
        assert keys.authenticate(tokens["clinical"]).role == "clinical"  # type: ignore[union-attr]
        assert keys.authenticate(tokens["admin"]).role == "admin"  # type: ignore[union-attr]
        assert keys.authenticate(tokens["auditor"]) is None  # still revoked
    finally:
        keys.close()
    with AuditLog.open(pg_url, data_dir / "keys") as store:
        [record] = [r for r in store.reader.find(kind="key_change") if r.get("action") == "migrate"]
        assert sorted(record["key_ids"]) == sorted(key_id(t) for t in tokens.values())
    assert "nothing to migrate" in run_cli("keys", "migrate", data_dir=data_dir, check=False).stderr


def test_keys_bound_to_client_certificates_live_in_the_shared_database(pg_url: str, tmp_path: Path) -> None:
    mtls = MutualTls(tmp_path, f'[audit]\nurl = "{pg_url}"\n')
    try:
        assert not (mtls.data_dir / "api_keys.json").exists()
        assert mtls.chat(mtls.ward7, mtls.bound_to_ward7).status_code == 200
        assert mtls.chat(mtls.ward8, mtls.bound_to_ward8).status_code == 200
        refused = mtls.chat(mtls.ward8, mtls.bound_to_ward7)
        assert refused.status_code == 401 and "bound to a client certificate" in refused.json()["error"]["message"]
        assert mtls.chat(mtls.ward7, mtls.bound_to_ward8).status_code == 401
    finally:
        mtls.server.stop()
    keys = DatabaseKeyStore(pg_url)
    try:
        stored = {entry.key_id: entry.client_cert for entry in keys.list()}
    finally:
        keys.close()
    assert stored[key_id(mtls.bound_to_ward7)] == f"sha256:{read_leaf(mtls.ward7).sha256}"
    assert stored[key_id(mtls.bound_to_ward8)] == "subject:CN=ward8"
    listed = run_cli("keys", "list", data_dir=mtls.data_dir).stdout
    assert f"bound to sha256:{read_leaf(mtls.ward7).sha256}" in listed and "bound to subject:CN=ward8" in listed


def test_a_key_table_from_before_bindings_gets_the_column_and_its_keys_keep_working(pg_url: str) -> None:
    schema = pg_url.rsplit("%3D", 1)[1]
    old = StoredKey("0123456789ab", "old-ward", "clinical", "treatment", "0" * 64, "2026-01-01T00:00:00+00:00")
    with psycopg.connect(f"postgresql://{PG_SERVER}", autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {schema}.appliance_api_keys (key_id VARCHAR(32) PRIMARY KEY, name VARCHAR(64) NOT NULL, "
                     "role VARCHAR(16) NOT NULL, purpose VARCHAR(32) NOT NULL, secret_sha256 VARCHAR(64) NOT NULL, "
                     "created_at VARCHAR(40) NOT NULL, revoked_at VARCHAR(40))")
        conn.execute(f"INSERT INTO {schema}.appliance_api_keys VALUES (%s, %s, %s, %s, %s, %s, NULL)",
                     (old.key_id, old.name, old.role, old.purpose, old.secret_sha256, old.created_at))
    keys = DatabaseKeyStore(pg_url)
    try:
        _, token = keys.create("ward7-ehr", "clinical", client_cert="subject:CN=ward7")
        principal = keys.authenticate(token)
        assert principal is not None and principal.client_cert == "subject:CN=ward7"
        assert principal.accepts_client_cert(None, "CN=ward7") and not principal.accepts_client_cert(None, "CN=ward8")
        assert {k.key_id: k for k in keys.list()}[old.key_id] == old  # the earlier key, unbound
    finally:
        keys.close()
