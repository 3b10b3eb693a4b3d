"""The OpenAI-compatible API, end to end: the real `openai` SDK against a real appliance server."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.metrics import STAGES
from tests.appliance_server import ApplianceServer, run_cli

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"


def client(server: ApplianceServer, role: str = "clinical") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=server.tokens[role], max_retries=0, timeout=120)


def test_chat_completion_with_openai_sdk(server: ApplianceServer) -> None:
    reply = client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=12, temperature=0, seed=7)
    assert reply.object == "chat.completion"
    assert reply.model == MODEL
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content.strip()
    assert choice.finish_reason in {"stop", "length"}
    assert reply.usage.prompt_tokens > 5
    assert 1 <= reply.usage.completion_tokens <= 12


def test_same_seed_same_answer_at_temperature(server: ApplianceServer) -> None:
    ask = dict(model=MODEL, messages=[{"role": "user", "content": "Write one word."}], max_tokens=8,
               temperature=1.0, top_p=0.9, seed=1234)
    first = client(server).chat.completions.create(**ask).choices[0].message.content
    second = client(server).chat.completions.create(**ask).choices[0].message.content
    client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Write two words."}],
                                           max_tokens=8, temperature=1.0)  # whatever the context held last
    third = client(server).chat.completions.create(**ask).choices[0].message.content
    assert first == second == third


def test_stop_sequence_ends_the_answer(server: ApplianceServer) -> None:
    reply = client(server).completions.create(model=MODEL, prompt="1, 2, 3, 4, 5, 6,", max_tokens=30,
                                              temperature=0, stop=[" 9"])
    assert " 9" not in reply.choices[0].text
    assert reply.choices[0].finish_reason == "stop"


def test_chat_streaming_with_openai_sdk(server: ApplianceServer) -> None:
    stream = client(server).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Count from one to five."}], max_tokens=20,
        temperature=0, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert text.strip()
    assert finishes in (["stop"], ["length"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 1


def test_stream_and_non_stream_agree_at_temperature_zero(server: ApplianceServer) -> None:
    ask = dict(model=MODEL, messages=[{"role": "user", "content": "What is two plus two?"}], max_tokens=16,
               temperature=0)
    whole = client(server).chat.completions.create(**ask).choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or ""
                       for c in client(server).chat.completions.create(**ask, stream=True) if c.choices)
    assert streamed == whole


def test_a_long_streamed_answer_starts_before_the_guard_window_fills(server: ApplianceServer) -> None:
    """The answer guard releases complete inert words at once: the first text chunk is shorter than one scan
    step (128 characters, released only once 96 + 128 are pending), more chunks follow, and the streamed text
    is the non-streamed text."""
    ask = dict(model=MODEL, messages=[{"role": "user", "content": "Tell me a story about a cat."}],
               max_tokens=120, temperature=0)
    whole = client(server).chat.completions.create(**ask).choices[0].message.content
    pieces = [c.choices[0].delta.content for c in client(server).chat.completions.create(**ask, stream=True)
              if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == whole
    assert len(whole) > 96 + 128, "long enough that the guard's window alone would hold the start back"
    assert 0 < len(pieces[0]) < 64, pieces[0]
    assert len(pieces) >= 4


def test_text_completion(server: ApplianceServer) -> None:
    reply = client(server).completions.create(model=MODEL, prompt="The capital of France is", max_tokens=8,
                                              temperature=0)
    assert reply.object == "text_completion"
    assert reply.choices[0].text
    assert reply.usage.completion_tokens >= 1


def test_text_completion_streaming(server: ApplianceServer) -> None:
    parts = [c.choices[0].text for c in client(server).completions.create(
        model=MODEL, prompt="Once upon a time", max_tokens=10, temperature=0, stream=True) if c.choices]
    assert "".join(parts).strip()


def test_models_list(server: ApplianceServer) -> None:
    models = client(server).models.list()
    assert MODEL in [m.id for m in models.data]


def test_missing_and_bad_keys_are_401(server: ApplianceServer) -> None:
    no_key = httpx.post(server.base_url + "/chat/completions", json={"model": MODEL, "messages": []})
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError) as bad:
        openai.OpenAI(base_url=server.base_url, api_key="apl_000000000000_nottherealsecret", max_retries=0
                      ).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert bad.value.status_code == 401
    assert "Incorrect API key" in bad.value.message


def test_wrong_role_is_403(server: ApplianceServer) -> None:
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client(server, "auditor").chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert "auditor" in denied.value.message
    clinical_on_audit = httpx.get(server.base_url + "/audit/records", headers=server.headers("clinical"))
    assert clinical_on_audit.status_code == 403
    assert clinical_on_audit.json()["error"]["code"] == "insufficient_role"


def test_auth_failures_are_audited(server: ApplianceServer) -> None:
    refused = httpx.get(server.base_url + "/audit/records", headers=server.headers("admin"))
    assert refused.status_code == 403
    request_id = refused.headers["x-request-id"]
    found = httpx.get(server.base_url + "/audit/records", params={"request_id": request_id, "kind": "auth_failure"},
                      headers=server.headers("auditor")).json()["data"]
    assert len(found) == 1
    assert found[0]["reason"] == "role_lacks_audit"
    assert found[0]["actor_role"] == "admin"


def test_unknown_model_is_404_model_not_found(server: ApplianceServer) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client(server).chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "hi"}])
    assert missing.value.code == "model_not_found"
    assert "gpt-17" in missing.value.message


def test_malformed_json_is_400_with_openai_error(server: ApplianceServer) -> None:
    reply = httpx.post(server.base_url + "/chat/completions", content=b'{"model": "x", "messages": [',
                       headers={**server.headers(), "Content-Type": "application/json"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert "not valid JSON" in error["message"]
    assert error["type"] == "invalid_request_error"
    assert reply.headers["x-request-id"].startswith("req_")


def test_invalid_field_names_the_parameter(server: ApplianceServer) -> None:
    reply = httpx.post(server.base_url + "/chat/completions", headers=server.headers(),
                       json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": 7})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "temperature"


def test_prompt_over_context_length_is_refused_before_work(server: ApplianceServer) -> None:
    long_prompt = "lorem ipsum dolor sit amet " * 400  # far beyond the 1024-token test context
    with pytest.raises(openai.BadRequestError) as too_long:
        client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": long_prompt}])
    assert too_long.value.code == "context_length_exceeded"
    assert "maximum context length is 1024 tokens" in too_long.value.message


def test_completion_budget_over_context_is_refused(server: ApplianceServer) -> None:
    with pytest.raises(openai.BadRequestError) as too_long:
        client(server).completions.create(model=MODEL, prompt="hello", max_tokens=5000)
    assert too_long.value.code == "context_length_exceeded"


def test_every_response_has_a_request_id(server: ApplianceServer) -> None:
    ids = {httpx.get(server.url + path).headers.get("x-request-id") for path in ("/healthz", "/readyz", "/nope")}
    assert None not in ids and len(ids) == 3


def test_readyz_reports_each_component(server: ApplianceServer) -> None:
    ready = httpx.get(server.url + "/readyz", headers=server.headers("auditor")).json()
    assert ready["ready"] is True
    assert ready["model_loaded"] and ready["detector_loaded"] and ready["audit_writable"]
    assert {"hipaa", "gdpr", "pci"} <= {p.split("@")[0] for p in ready["policy_packs"]}


def test_metrics_count_requests_and_tokens(server: ApplianceServer) -> None:
    client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    text = httpx.get(server.url + "/metrics", headers=server.headers("auditor")).text
    assert 'appliance_requests_total{endpoint="/v1/chat/completions",status="200"}' in text
    assert 'appliance_tokens_total{kind="completion",model="smollm2-135m-instruct"}' in text
    assert "appliance_queue_depth" in text
    assert "appliance_request_latency_seconds_bucket" in text


def metric_samples(server: ApplianceServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample at /metrics, keyed by name and sorted labels."""
    text = httpx.get(server.url + "/metrics", headers=server.headers("auditor")).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def growth(before: dict[tuple[str, tuple[tuple[str, str], ...]], float],
           after: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_time_a_stream_to_its_first_text_step_by_step(server: ApplianceServer) -> None:
    before = metric_samples(server)
    started = time.perf_counter()
    stream = client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Say hello."}],
                                                   max_tokens=8, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    elapsed = time.perf_counter() - started
    after = metric_samples(server)
    assert text.strip()
    assert growth(before, after, "appliance_time_to_first_token_seconds_count", model=MODEL) == 1
    assert all(growth(before, after, "appliance_stage_seconds_count", stage=stage) == 1 for stage in STAGES)
    to_first_text = growth(before, after, "appliance_time_to_first_token_seconds_sum", model=MODEL)
    steps = [growth(before, after, "appliance_stage_seconds_sum", stage=stage) for stage in STAGES]
    assert all(step > 0 for step in steps)
    assert sum(steps) <= to_first_text <= elapsed  # the steps follow one another within the time to first text


def test_a_whole_answer_is_timed_up_to_its_first_token_only(server: ApplianceServer) -> None:
    before = metric_samples(server)
    client(server).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Say hello."}], max_tokens=4)
    after = metric_samples(server)
    assert all(growth(before, after, "appliance_stage_seconds_count", stage=stage) == 1 for stage in STAGES[:3])
    assert growth(before, after, "appliance_stage_seconds_count", stage="first_text") == 0
    assert growth(before, after, "appliance_time_to_first_token_seconds_count", model=MODEL) == 0


def test_a_model_whose_bytes_changed_is_refused_at_load(server: ApplianceServer, tmp_path: Path) -> None:
    source = server.data_dir / "models" / f"{MODEL}.gguf"
    run_cli("models", "import", str(source), "--id", "second-copy", data_dir=server.data_dir)
    assert "second-copy" in [m.id for m in client(server).models.list().data]
    stored = server.data_dir / "models" / "second-copy.gguf"
    tampered = tmp_path / "tampered.gguf"
    shutil.copyfile(stored, tampered)  # a new inode: the installed original stays intact
    with open(tampered, "r+b") as fh:
        fh.seek(os.path.getsize(tampered) - 4096)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.replace(tampered, stored)
    with pytest.raises(openai.InternalServerError) as refused:
        client(server).chat.completions.create(model="second-copy", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 503
    assert "sha256 mismatch" in refused.value.message
    assert client(server).chat.completions.create(  # the verified default model still serves
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2).choices
