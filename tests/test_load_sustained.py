"""Sustained load from many clients: only 200s and 429s, every call in the audit log, the log verifies."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.appliance_server import ApplianceServer, init_data_dir
from tests.audit_ledger import all_records, assert_gap_free, by_request_id, export_and_verify
from tests.load_clients import CallResult, Load, answered, call_once, chat_shape

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.timeout(1200)]

# A short queue, so 24 clients overflow it whatever the engine runs at once; a 1 s Retry-After.
CONFIG = """
[engine]
context_length = 1024
max_queue = 2
retry_after_seconds = 1
[audit]
checkpoint_every = 50
"""
CLIENTS = 24
SECONDS = 25  # at least; then on until every shape was served and CLIENTS calls answered
SHAPES = [
    chat_shape("chat", "Say the number seven.", 8),
    chat_shape("stream", "Name a colour.", 8, stream=True, stream_options={"include_usage": True}),
    chat_shape("note", "Summarise: patient stable overnight, discharged home with follow-up.", 12),
    chat_shape("hang-up", "Write a long story about a lighthouse keeper.", 64, stream=True, hang_up=True),
]


def served_enough(calls: list[CallResult]) -> bool:
    hung_up = any(c.shape == "hang-up" and c.status == 200 for c in calls)
    return hung_up and answered(calls) >= CLIENTS and all(answered(calls, s.name) for s in SHAPES if not s.hang_up)


def test_many_clients_get_answers_or_429_and_every_call_is_in_the_verified_log(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with ApplianceServer(data_dir, init_data_dir(data_dir, CONFIG)) as server:
        before = {r["request_id"] for r in all_records(server) if r["kind"] == "request"}
        calls = Load(server, SHAPES, clients=CLIENTS).run(served_enough, "every shape served", SECONDS)

        statuses = Counter(call.status for call in calls)
        assert set(statuses) <= {200, 429}, statuses
        assert statuses[429] >= 1, statuses  # the queue did overflow
        for call in calls:
            if call.status == 429:
                assert call.error_code == "queue_full" and call.retry_after == "1", call
            elif call.shape != "hang-up":
                assert call.complete and call.text.strip(), call

        records = all_records(server)
        assert_gap_free(records)
        logged = {rid: entry for rid, entry in by_request_id(records).items() if rid not in before}
        assert set(logged) == {call.request_id for call in calls}  # each call logged, nothing else
        for call in calls:
            outcome = logged[call.request_id].outcome
            assert outcome is not None, (call, logged[call.request_id])
            hung_up = call.shape == "hang-up" and call.status == 200  # 200 only if it finished before the hang-up
            assert outcome["status"] in ((200, 499) if hung_up else (call.status,)), (call, outcome)
        hang_ups = [logged[c.request_id].outcome for c in calls if c.shape == "hang-up"]
        assert any(o["status"] == 499 and o["error"] == "client_disconnected" for o in hang_ups), hang_ups

        # Nothing stuck: cancelled and finished jobs gave their places back.
        with httpx.Client(timeout=120) as client:
            assert call_once(client, server, SHAPES[0]).status == 200
        assert export_and_verify(server) >= len(records)
