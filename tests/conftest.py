"""Shared fixtures: one real appliance server for the API suites."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.appliance_server import ApplianceServer, init_data_dir, run_cli

TEST_CONFIG = """
[engine]
context_length = 1024
parallel = 1
max_queue = 1
default_max_tokens = 48
retry_after_seconds = 3
"""


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceServer]:
    """A real `appliance serve` on a free loopback port (SmolLM2, presidio, SQLite audit store)."""
    data_dir: Path = tmp_path_factory.mktemp("appliance") / "data"
    tokens = init_data_dir(data_dir, TEST_CONFIG)
    with ApplianceServer(data_dir, tokens) as running:
        yield running


BOUNDARY_CONFIG = """
[server]
body_timeout_seconds = 3
auth_failure_window_seconds = 3
[engine]
context_length = 512
max_queue = 2
default_max_tokens = 8
"""


@pytest.fixture(scope="session")
def boundary_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceServer]:
    """A real server for the boundary suites (short body and auth-failure windows, small answers), with
    one more clinical key that is revoked before the start (`tokens["revoked"]`)."""
    data_dir: Path = tmp_path_factory.mktemp("boundary") / "data"
    tokens = init_data_dir(data_dir, BOUNDARY_CONFIG)
    revoked = run_cli("keys", "create", "--role", "clinical", "--name", "revoked-probe", data_dir=data_dir)
    tokens["revoked"] = revoked.stdout.strip().splitlines()[-1]
    run_cli("keys", "revoke", tokens["revoked"].split("_")[1], data_dir=data_dir)
    with ApplianceServer(data_dir, tokens) as running:
        yield running
