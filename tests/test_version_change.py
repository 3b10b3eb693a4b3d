"""`appliance init --if-missing` after an upgrade or rollback records the version change in the log."""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from tests.appliance_server import init_data_dir, run_cli


def test_a_changed_version_is_recorded_once_and_the_log_still_verifies(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init_data_dir(data_dir)
    current = metadata.version("compliance-appliance")
    assert (data_dir / "appliance_version").read_text().strip() == current
    (data_dir / "appliance_version").write_text("0.0.1\n")  # as left by the version installed before
    upgraded = run_cli("init", "--if-missing", data_dir=data_dir)
    assert f"recorded version change 0.0.1 -> {current}" in upgraded.stdout
    assert "recorded version change" not in run_cli("init", "--if-missing", data_dir=data_dir).stdout
    run_cli("audit", "export", "--out", str(tmp_path / "export"), data_dir=data_dir)
    assert run_cli("audit", "verify", str(tmp_path / "export")).stdout.startswith("OK")
    records = [json.loads(line) for line in (tmp_path / "export" / "records.jsonl").read_text().splitlines()]
    assert [(r["from"], r["to"]) for r in records if r["kind"] == "version_change"] == [("0.0.1", current)]
    assert next(r for r in records if r["kind"] == "init")["version"] == current
