"""The detector raising under load: the calls it fails on are refused with a clear 503 (no inference for
a prompt it cannot check, no answer it cannot check), and every other call is served as usual.

The server is the real appliance with one extra presidio recognizer that raises on texts containing a
marker word (`tests/detector_fault_serve.py`). Prompts with the word fail at the prompt scan; answers
forced to the word (`logit_bias`) fail at the answer scan.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from appliance.engine.default_model import locate_default_model
from tests.appliance_server import ApplianceServer, init_data_dir
from tests.audit_ledger import all_records, assert_gap_free, by_request_id, export_and_verify
from tests.load_clients import CallResult, Load, chat_shape

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.timeout(1200)]

MARKER = "zebra"
CONFIG = """
[engine]
context_length = 1024
max_queue = 32
"""
CLIENTS = 10
SECONDS = 20  # at least; then on until every shape was called twice


@pytest.fixture(scope="module")
def marker_token() -> int:
    """The model's one token for " zebra", so `logit_bias` can force answers made of the marker."""
    from llama_cpp import Llama

    vocabulary = Llama(str(locate_default_model()), vocab_only=True, verbose=False)
    [token] = vocabulary.tokenize(f" {MARKER}".encode(), add_bos=False, special=False)
    return token


def shapes(marker_token: int) -> list:
    forced = {"logit_bias": {str(marker_token): 100}}
    return [
        chat_shape("chat", "Say the number seven.", 8),
        chat_shape("stream", "Name a colour.", 8, stream=True),
        chat_shape("prompt-fault", f"Tell me about the {MARKER} at the zoo.", 8),
        chat_shape("answer-fault", "Name an animal.", 6, **forced),
        chat_shape("answer-fault-stream", "Name an animal.", 6, stream=True, **forced),
    ]


def every_shape_twice(calls: list[CallResult]) -> bool:
    """Each shape got at least two answers (a response head; the others may be in flight)."""
    counts = Counter(c.shape for c in calls if c.status)
    return all(counts[shape.name] >= 2 for shape in shapes(0))


def refused_by_detector(call: CallResult) -> bool:
    error = call.error or {}
    return (error.get("code") == "detector_unavailable" and error.get("type") == "server_error"
            and "fail closed" in error.get("message", "") and not call.complete and MARKER not in call.text)


def test_detector_failures_fail_closed_and_leave_other_calls_alone(tmp_path: Path, marker_token: int) -> None:
    data_dir = tmp_path / "data"
    server = ApplianceServer(data_dir, init_data_dir(data_dir, CONFIG),
                             command=[sys.executable, "-m", "tests.detector_fault_serve", MARKER])
    with server:
        calls = Load(server, shapes(marker_token), clients=CLIENTS).run(every_shape_twice, "every shape twice", SECONDS)
        records = all_records(server)
        verified = export_and_verify(server)

    by_shape = Counter((c.shape, c.status, c.error_code) for c in calls)
    for call in calls:
        if call.shape in ("chat", "stream"):
            assert call.status == 200 and call.complete and call.text.strip(), (call, by_shape)
        else:  # refused before any text of the answer was sent; a stream says so in an error event
            assert refused_by_detector(call), (call, by_shape)
            assert call.status == (200 if call.shape == "answer-fault-stream" else 503), call
    assert {shape for shape, _, _ in by_shape} == {s.name for s in shapes(marker_token)}, by_shape

    assert_gap_free(records)
    logged = by_request_id(records)
    for call in calls:
        entry = logged.get(call.request_id)
        if call.shape == "prompt-fault":
            assert entry is None, entry  # refused before the write-ahead record: nothing was generated
            continue
        assert entry is not None and entry.outcome is not None, (call, entry)
        expected = (200, None) if call.shape in ("chat", "stream") else (503, "detector_unavailable")
        assert (entry.outcome["status"], entry.outcome.get("error")) == expected, (call, entry.outcome)
    assert verified >= len(records)
