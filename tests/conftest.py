"""Shared fixtures: one real appliance server for the API suites."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.appliance_server import ApplianceServer, init_data_dir

TEST_CONFIG = """
[engine]
context_length = 1024
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
