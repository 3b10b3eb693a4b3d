"""kill -9 under load, then a restart on the same data directory: every answer a client received whole
has its request and outcome records, the log verifies, and the appliance serves again."""
from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.appliance_server import ApplianceServer, init_data_dir
from tests.audit_ledger import all_records, assert_gap_free, by_request_id, export_and_verify
from tests.load_clients import Load, call_once, chat_shape

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.timeout(1200)]

# Room for every client (no 429s): the engine holds as many concurrent sequences as it can.
CONFIG = """
[engine]
context_length = 1024
max_queue = 32
[audit]
checkpoint_every = 10
"""
CLIENTS = 16
SHAPES = [
    chat_shape("chat", "Count from one to twenty.", 12),
    chat_shape("stream", "List five fruits.", 12, stream=True),
]
ANSWERED_BEFORE_KILL = 8


def test_kill_9_under_load_loses_no_acknowledged_call(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ApplianceServer(data_dir, init_data_dir(data_dir, CONFIG))
    with server:
        load = Load(server, SHAPES, clients=CLIENTS).start()
        load.wait_for(lambda calls: sum(c.complete for c in calls) >= ANSWERED_BEFORE_KILL, 600,
                      f"{ANSWERED_BEFORE_KILL} whole answers")
        killed_at = time.monotonic()
        server.stop(signal.SIGKILL)
        calls = load.stop()
        acknowledged = {c.request_id for c in calls if c.status == 200 and c.complete}
        cut_off = [c for c in calls if not c.complete and c.started < killed_at]
        assert len(acknowledged) >= ANSWERED_BEFORE_KILL and cut_off, Counter((c.shape, c.status, c.complete) for c in calls)

        server.start()
        records = all_records(server)
        assert_gap_free(records)
        logged = by_request_id(records)
        for request_id in acknowledged:
            outcome = logged[request_id].outcome if request_id in logged else None
            assert outcome is not None and outcome["status"] == 200, (request_id, logged.get(request_id))
        # Request records without an outcome: calls the kill cut off (in flight, so mostly without a response
        # head to name them), never more than those.
        unfinished = [rid for rid, entry in logged.items() if not entry.outcomes]
        assert len(unfinished) <= len(cut_off), (unfinished, cut_off)
        assert export_and_verify(server) >= len(records)
        with httpx.Client(timeout=120) as client:
            after = call_once(client, server, SHAPES[1])
        assert after.status == 200 and after.complete, after
