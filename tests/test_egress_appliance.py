"""The whole appliance with no network at all, and the guard inside a real appliance process."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.appliance_server import REPO

pytestmark = pytest.mark.slow


def no_network_namespace_available() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


NETNS_SCENARIO = """
import json, subprocess, sys
from pathlib import Path
import httpx
from tests.appliance_server import ApplianceServer, init_data_dir

data_dir = Path(sys.argv[1])
server = ApplianceServer(data_dir, init_data_dir(data_dir, "[engine]\\ncontext_length = 1024\\n"))
with server:
    scan = httpx.post(server.base_url + "/scan", headers=server.headers(),
                      json={"text": "Patient Jane Roe, SSN 536-22-8145, seen today."}).json()
    chat = httpx.post(server.base_url + "/chat/completions", headers=server.headers(), timeout=120,
                      json={"model": "smollm2-135m-instruct", "max_tokens": 8,
                            "messages": [{"role": "user", "content": "Say hello to Dr. Alan Grant."}]})
    metrics = httpx.get(server.url + "/metrics", headers=server.headers()).text
    blocks = httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                       params={"kind": "egress_block"}).json()["data"]
    outbound = [line for line in metrics.splitlines() if line.startswith("appliance_egress_")]
print(json.dumps({"scan_types": sorted({f["entity_type"] for f in scan["findings"]}),
                  "chat_status": chat.status_code, "egress_blocks": len(blocks), "metrics": outbound}))
"""


@pytest.mark.skipif(not no_network_namespace_available(), reason="needs unshare -n (root) and ip")
def test_whole_appliance_runs_with_no_network_and_attempts_no_egress(tmp_path: Path) -> None:
    inside = 'ip link set lo up && exec "$0" "$@"'  # loopback up, then the scenario with its arguments
    result = subprocess.run(["unshare", "-n", "sh", "-c", inside, sys.executable, "-c", NETNS_SCENARIO,
                             str(tmp_path / "data")], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"PERSON", "US_SSN"} <= set(report["scan_types"])
    assert report["chat_status"] == 200
    assert report["egress_blocks"] == 0
    assert "appliance_egress_blocked 0.0" in report["metrics"]


GUARD_SCENARIO = """
import json, socket, sys
from pathlib import Path
from appliance.cli.main import GUARD
from appliance.config import load_settings
from appliance.egress import EgressBlocked
from appliance.services import open_services

data_dir, port = Path(sys.argv[1]), int(sys.argv[2])
settings = load_settings(data_dir=data_dir)
services = open_services(settings, GUARD)
try:
    socket.create_connection(("127.0.0.4", port), timeout=5)
    outcome = "connected"
except EgressBlocked as exc:
    outcome = f"blocked: {exc}"
records = [r for r in services.audit.reader.read_records() if r["kind"] == "egress_block"]
report = GUARD.report()
services.close()
print(json.dumps({"outcome": outcome, "records": records, "blocked": report["counters"]["blocked"],
                  "sink_errors": report["sink_errors"], "last_sink_error": report["last_sink_error"]}))
"""


def test_guard_blocks_a_loopback_address_off_the_allow_list_and_audits_it(tmp_path: Path) -> None:
    from tests.appliance_server import init_data_dir
    from tests.standin import StandIn

    with StandIn("127.0.0.3") as fleet, StandIn("127.0.0.4") as stray:
        data_dir = tmp_path / "data"
        init_data_dir(data_dir, textwrap.dedent(f"""
            [egress]
            mode = "connected"
            loopback = "listed"
            [[backends]]
            name = "fleet"
            kind = "upstream"
            base_url = "{fleet.url}"
            model = "fleet-70b"
            """))
        result = subprocess.run([sys.executable, "-c", GUARD_SCENARIO, str(data_dir), str(stray.port)],
                                capture_output=True, text=True, cwd=REPO, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        assert stray.connections == 0
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outcome"].startswith("blocked:") and "127.0.0.4" in report["outcome"]
    assert sum(report["blocked"].values()) == 1
    assert report["sink_errors"] == 0, report["last_sink_error"]
    [record] = report["records"]
    assert f"127.0.0.4:{stray.port}" in record["target"]
    assert record["module"] == "__main__"
