"""The rest of the OpenAI API against a real server on the real default model: structured outputs,
tool calls, logprobs, penalties and logit bias, embeddings, capabilities, and no silently ignored
field. Clients: the `openai` SDK and LangChain's `ChatOpenAI`."""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from llama_cpp import Llama

from appliance.engine.default_model import locate_default_model
from tests.appliance_server import ApplianceServer, init_data_dir, run_cli
from tests.conftest import TEST_CONFIG

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"
EMBED = "smollm2-embed"

TRIAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "topic": {"type": "string", "maxLength": 16},
        "urgency": {"enum": ["low", "medium", "high"]},
        "follow_up": {"type": "boolean"},
    },
    "required": ["topic", "urgency", "follow_up"],
    "additionalProperties": False,
}
TRIAGE_FORMAT = {"type": "json_schema", "json_schema": {"name": "triage", "strict": True, "schema": TRIAGE_SCHEMA}}
# The longest answer TRIAGE_SCHEMA's grammar admits is about 150 tokens (16 topic characters, each a
# 6-character \uXXXX escape, one token per character): with this budget a sampled answer cannot be cut
# by the token limit (at 64, one of 100 answers at temperature 0.7 now and then was, in CI).
TRIAGE_MAX_TOKENS = 192
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                   "required": ["city"], "additionalProperties": False}}}
COMPLAINTS = ["chest pain", "a mild rash", "a sprained ankle", "shortness of breath", "a persistent cough",
              "a migraine", "high fever", "back pain", "dizziness", "a minor burn"]
ASKS = ["Triage this note: patient reports {}.", "Classify the urgency of {} in a walk-in clinic.",
        "A caller describes {}. Fill in the triage form.", "Summarise for the triage desk: {} since yesterday.",
        "Nurse note: adult with {}, vitals normal. Triage it.", "Intake: child presenting with {}. Triage.",
        "Telephone advice line: {} after exercise.", "Triage the referral letter about {}.",
        "Elderly resident with {}; decide urgency.", "Student health: {} before exams. Triage."]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceServer]:
    """A real server with the default model, also imported as an embedding model."""
    data_dir: Path = tmp_path_factory.mktemp("extras") / "data"
    tokens = init_data_dir(data_dir, TEST_CONFIG)
    run_cli("models", "import", str(locate_default_model()), "--id", EMBED, "--kind", "embedding", data_dir=data_dir)
    with ApplianceServer(data_dir, tokens) as running:
        yield running


def sdk(server: ApplianceServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=server.tokens["clinical"], max_retries=0, timeout=300)


def chat_model(server: ApplianceServer, **extra: Any) -> ChatOpenAI:
    return ChatOpenAI(base_url=server.base_url, api_key=server.tokens["clinical"], model=MODEL, max_retries=0,
                      timeout=300, **extra)


def audit_records(server: ApplianceServer, request_id: str) -> list[dict[str, Any]]:
    return httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                     params={"request_id": request_id, "limit": 100}).json()["data"]


def assert_triage(answer: str) -> None:
    value = json.loads(answer)
    assert set(value) == {"topic", "urgency", "follow_up"}, value
    assert isinstance(value["topic"], str) and len(value["topic"]) <= 16
    assert value["urgency"] in {"low", "medium", "high"}
    assert isinstance(value["follow_up"], bool)


# -- no silent ignoring ------------------------------------------------------------------------------


@pytest.mark.parametrize("path, body, field", [
    ("/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "best_of": 2}, "best_of"),
    ("/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "hi", "mood": "x"}]},
     "messages.0.mood"),
    ("/completions", {"model": MODEL, "prompt": "hi", "suffix": "end"}, "suffix"),
    ("/embeddings", {"model": EMBED, "input": "hi", "truncate": True}, "truncate"),
])
def test_an_unknown_field_is_refused_by_name(api: ApplianceServer, path: str, body: dict, field: str) -> None:
    reply = httpx.post(api.base_url + path, headers=api.headers(), json=body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == field
    assert f"Unrecognized request argument supplied: {field}" in error["message"]


def test_unknown_field_through_the_sdk_and_more_than_one_choice(api: ApplianceServer) -> None:
    with pytest.raises(openai.BadRequestError) as unknown:
        sdk(api).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                         extra_body={"reasoning_effort_x": "high"})
    assert unknown.value.param == "reasoning_effort_x"
    with pytest.raises(openai.BadRequestError) as several:
        sdk(api).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], n=2)
    assert several.value.param == "n" and "one choice per request" in several.value.message


def test_models_list_their_capabilities(api: ApplianceServer) -> None:
    models = {m.id: m.model_extra["capabilities"] for m in sdk(api).models.list().data}
    assert models[MODEL] == {"chat": True, "completions": True, "embeddings": False, "tools": True,
                             "tool_format": "appliance-prompt", "json_schema": True}
    assert models[EMBED] == {"chat": False, "completions": False, "embeddings": True, "tools": False,
                             "json_schema": False, "dimensions": 576}


# -- structured outputs ------------------------------------------------------------------------------


@pytest.mark.timeout(2400)  # 100 generations: about 2 minutes on an idle 2-core machine
def test_json_schema_answers_validate_100_of_100_at_temperature(api: ApplianceServer) -> None:
    client = sdk(api)
    prompts = [ask.format(complaint) for ask in ASKS for complaint in COMPLAINTS]
    assert len(set(prompts)) == 100
    for prompt in prompts:
        reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}],
                                               response_format=TRIAGE_FORMAT, temperature=0.7, max_tokens=TRIAGE_MAX_TOKENS)
        assert reply.choices[0].finish_reason == "stop", prompt
        assert_triage(reply.choices[0].message.content)


def test_json_schema_streamed_and_through_langchain(api: ApplianceServer) -> None:
    stream = sdk(api).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Triage: adult with a sore throat."}],
        response_format=TRIAGE_FORMAT, temperature=0.7, max_tokens=TRIAGE_MAX_TOKENS, stream=True)
    assert_triage("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    structured = chat_model(api, max_tokens=TRIAGE_MAX_TOKENS).with_structured_output(TRIAGE_SCHEMA | {"title": "triage"},
                                                                        method="json_schema", strict=True)
    assert_triage(json.dumps(structured.invoke("Triage: toddler with an earache.")))


def test_json_object_answer_is_json(api: ApplianceServer) -> None:
    reply = sdk(api).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": 'Reply with exactly this JSON object and nothing else: '
                                                           '{"name": "Ann", "age": 40}'}],
        response_format={"type": "json_object"}, temperature=0, max_tokens=128)
    assert reply.choices[0].finish_reason == "stop"  # a free-form JSON answer at temperature may run long
    assert isinstance(json.loads(reply.choices[0].message.content), dict)


def test_a_structured_answer_cut_by_the_token_limit_is_an_error(api: ApplianceServer) -> None:
    with pytest.raises(openai.BadRequestError) as cut:
        sdk(api).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Triage: a cough."}],
                                         response_format=TRIAGE_FORMAT, max_tokens=3)
    assert cut.value.code == "structured_output_incomplete" and cut.value.param == "max_tokens"


def test_an_unenforceable_schema_is_refused(api: ApplianceServer) -> None:
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "https://example.invalid/s.json"}}}
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(api).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                         response_format=bad)
    assert refused.value.param == "response_format.json_schema.schema"


# -- tools ---------------------------------------------------------------------------------------------


def test_tool_call_round_trip_with_the_sdk(api: ApplianceServer) -> None:
    client = sdk(api)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris right now?"}]
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, tools=[WEATHER_TOOL], tool_choice="required", temperature=0.7, seed=3, max_tokens=48)
    reply = raw.parse()
    assert reply.choices[0].finish_reason == "tool_calls"
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert set(arguments) == {"city"} and isinstance(arguments["city"], str)
    messages += [reply.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 degrees Celsius."}]
    final = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL], tool_choice="none",
                                           temperature=0.7, max_tokens=40)
    assert final.choices[0].message.content and not final.choices[0].message.tool_calls
    request, outcome = audit_records(api, raw.headers["x-request-id"])
    assert request["tools_offered"] == ["get_weather"] and request["tool_choice"] == "required"
    assert outcome["tools_called"] == ["get_weather"] and outcome["finish_reason"] == "tool_calls"
    assert arguments["city"] not in json.dumps([request, outcome])  # names of tools, never argument values


def test_tool_call_streamed_as_deltas_the_sdk_assembles(api: ApplianceServer) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    stream = sdk(api).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=[WEATHER_TOOL],
        tool_choice=named, temperature=0.7, seed=3, max_tokens=48, stream=True)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for piece in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += piece.id or ""
            call["name"] += piece.function.name or ""
            call["arguments"] += piece.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls" and len(calls) == 1
    assert calls[0]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
    assert set(json.loads(calls[0]["arguments"])) == {"city"}


def test_tool_round_trip_through_langchain_streamed_and_not(api: ApplianceServer) -> None:
    llm = chat_model(api, max_tokens=48, temperature=0.7, seed=3)
    forced = llm.bind_tools([WEATHER_TOOL], tool_choice="get_weather")
    called = forced.invoke("What is the weather in Rome?")
    assert called.tool_calls and called.tool_calls[0]["name"] == "get_weather"
    streamed = None
    for chunk in forced.stream("What is the weather in Lisbon?"):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed is not None and streamed.tool_calls[0]["name"] == "get_weather"
    assert set(streamed.tool_calls[0]["args"]) == {"city"}
    conversation = [HumanMessage("What is the weather in Rome?"), called,
                    ToolMessage("Rain, 12 degrees Celsius.", tool_call_id=called.tool_calls[0]["id"])]
    final = llm.bind_tools([WEATHER_TOOL], tool_choice="none").invoke(conversation)
    assert isinstance(final.content, str) and final.content and not final.tool_calls


def test_tool_results_are_scanned(api: ApplianceServer) -> None:
    messages = [
        {"role": "user", "content": "Look up the chart."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_chart", "arguments": '{"ward": "B"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Patient MRN 48213377, stable."},
    ]
    raw = sdk(api).chat.completions.with_raw_response.create(model=MODEL, messages=messages, max_tokens=8)
    request = audit_records(api, raw.headers["x-request-id"])[0]
    assert any("MEDICAL_RECORD" in kind or "MRN" in kind for kind in request["findings"]), request["findings"]


# -- sampling and output fields -------------------------------------------------------------------------


def test_logprobs_match_the_tokens_of_the_answer(api: ApplianceServer) -> None:
    reply = sdk(api).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Name three fruits."}], max_tokens=16, temperature=0.7,
        logprobs=True, top_logprobs=3)
    content = reply.choices[0].logprobs.content
    assert "".join(t.token for t in content) == reply.choices[0].message.content
    assert len(content) == reply.usage.completion_tokens or reply.choices[0].finish_reason == "stop"
    for entry in content:
        assert entry.logprob <= 0 and bytes(entry.bytes).decode("utf-8") == entry.token
        ranked = [alt.logprob for alt in entry.top_logprobs]
        assert len(ranked) == 3 and ranked == sorted(ranked, reverse=True)
        assert entry.logprob <= ranked[0] + 1e-6


def test_streamed_logprobs_cover_the_streamed_text(api: ApplianceServer) -> None:
    stream = sdk(api).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Describe the sea."}], max_tokens=24, temperature=0.7,
        logprobs=True, stream=True)
    text, tokens = "", ""
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            tokens += "".join(t.token for t in (chunk.choices[0].logprobs.content if chunk.choices[0].logprobs else []))
    assert text and tokens == text


def test_text_completion_logprobs(api: ApplianceServer) -> None:
    reply = sdk(api).completions.create(model=MODEL, prompt="The capital of France is", max_tokens=6, logprobs=2)
    logprobs = reply.choices[0].logprobs
    assert "".join(logprobs.tokens) == reply.choices[0].text
    assert len(logprobs.token_logprobs) == len(logprobs.tokens) == len(logprobs.top_logprobs)


def test_logit_bias_steers_the_tokens(api: ApplianceServer) -> None:
    vocab = Llama(model_path=str(locate_default_model()), vocab_only=True, verbose=False)
    (token,) = vocab.tokenize(b"Paris", add_bos=False)
    reply = sdk(api).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say something."}], max_tokens=5, temperature=0.7,
        logit_bias={str(token): 100})
    assert reply.choices[0].message.content == "Paris" * 5


def test_penalties_user_and_max_completion_tokens(api: ApplianceServer) -> None:
    raw = sdk(api).chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Repeat the word cat many times."}], temperature=0.7,
        max_completion_tokens=7, presence_penalty=1.5, frequency_penalty=1.0, user="ward-7-terminal")
    assert raw.parse().usage.completion_tokens <= 7
    request = audit_records(api, raw.headers["x-request-id"])[0]
    assert request["user"] == "ward-7-terminal"
    with pytest.raises(openai.BadRequestError) as bad_user:
        sdk(api).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], user="a b")
    assert bad_user.value.param == "user"


# -- embeddings ------------------------------------------------------------------------------------------


def test_embeddings_dimension_and_determinism(api: ApplianceServer) -> None:
    client = sdk(api)
    texts = ["Discharge summary: stable.", "Blood pressure is normal.", "Discharge summary: stable."]
    raw = client.embeddings.with_raw_response.create(model=EMBED, input=texts, encoding_format="float")
    first = raw.parse()
    vectors = [item.embedding for item in first.data]
    assert [item.index for item in first.data] == [0, 1, 2]
    assert all(len(v) == 576 for v in vectors)
    assert vectors[0] == vectors[2] and vectors[0] != vectors[1]
    again = client.embeddings.create(model=EMBED, input="Discharge summary: stable.", encoding_format="float")
    assert again.data[0].embedding == vectors[0]
    assert abs(sum(x * x for x in vectors[1]) - 1.0) < 1e-3
    encoded = httpx.post(api.base_url + "/embeddings", headers=api.headers(),
                         json={"model": EMBED, "input": texts[1], "encoding_format": "base64"}).json()
    decoded = struct.unpack("<576f", base64.b64decode(encoded["data"][0]["embedding"]))
    assert max(abs(a - b) for a, b in zip(decoded, vectors[1])) < 1e-6
    request, outcome = audit_records(api, raw.headers["x-request-id"])
    assert request["endpoint"] == "/v1/embeddings" and request["decision"] == "allow"
    assert outcome["status"] == 200 and outcome["prompt_tokens"] == first.usage.prompt_tokens


def test_embeddings_refuse_the_wrong_model_kind_and_dimensions(api: ApplianceServer) -> None:
    client = sdk(api)
    with pytest.raises(openai.BadRequestError) as chat_model_refused:
        client.embeddings.create(model=MODEL, input="hello")
    assert chat_model_refused.value.param == "model"
    with pytest.raises(openai.BadRequestError) as embed_model_refused:
        client.chat.completions.create(model=EMBED, messages=[{"role": "user", "content": "hello"}])
    assert "embedding model" in embed_model_refused.value.message
    with pytest.raises(openai.BadRequestError) as dims:
        client.embeddings.create(model=EMBED, input="hello", dimensions=64)
    assert dims.value.param == "dimensions" and "576" in dims.value.message


def test_embedding_inputs_are_scanned(api: ApplianceServer) -> None:
    raw = sdk(api).embeddings.with_raw_response.create(model=EMBED, input=["Patient MRN 48213377 admitted."])
    request = audit_records(api, raw.headers["x-request-id"])[0]
    assert request["findings"], request
