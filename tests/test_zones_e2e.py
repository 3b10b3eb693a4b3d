"""Trust zones end to end: a real appliance with an "external" stand-in on 127.0.0.2 and an "internal"
one on 127.0.0.3. Sensitive data never reaches the external host; every decision is audited."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest

from tests.appliance_server import ApplianceServer, init_data_dir, routed_config
from tests.standin import StandIn

pytestmark = pytest.mark.slow

NAME_PROMPT = "Draft a friendly follow-up letter to our patient Margaret Okafor about her physiotherapy."
MRN_PROMPT = "Summarise the chart of the patient with MRN 48213377 for the referral."
PAN_PROMPT = "The patient paid with card 4111 1111 1111 1111, expiry 09/28. Write a receipt note."
BENIGN_PROMPT = "Explain in two sentences what a normal resting heart rate is for adults."


def zone_config(mode: str, cloud: StandIn, fleet: StandIn) -> str:
    return routed_config(mode, {"cloud": ("external", cloud.url, "big-cloud-model"),
                                "fleet": ("upstream", fleet.url, "fleet-70b")})


@pytest.fixture(scope="module")
def standins() -> Iterator[tuple[StandIn, StandIn]]:
    with StandIn("127.0.0.2") as cloud, StandIn("127.0.0.3") as fleet:
        yield cloud, fleet


def start(tmp_path: Path, mode: str, standins: tuple[StandIn, StandIn]) -> ApplianceServer:
    data_dir = tmp_path / mode / "data"
    return ApplianceServer(data_dir, init_data_dir(data_dir, zone_config(mode, *standins)))


@pytest.fixture(scope="module")
def connected(tmp_path_factory: pytest.TempPathFactory, standins: tuple[StandIn, StandIn]) -> Iterator[ApplianceServer]:
    with start(tmp_path_factory.mktemp("zones"), "connected", standins) as server:
        yield server


def ask(server: ApplianceServer, model: str, prompt: str, **extra: object) -> str:
    client = openai.OpenAI(base_url=server.base_url, api_key=server.tokens["clinical"], max_retries=0)
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}], **extra)
    return reply.choices[0].message.content


def records(server: ApplianceServer, **params: str) -> list[dict]:
    return httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                     params={"limit": 1000, **params}).json()["data"]


def test_benign_prompt_goes_to_the_external_backend_when_connected(connected: ApplianceServer,
                                                                   standins: tuple[StandIn, StandIn]) -> None:
    cloud, _ = standins
    before = len(cloud.requests)
    answer = ask(connected, "cloud-model", BENIGN_PROMPT)
    assert answer == f"Stand-in heard: {BENIGN_PROMPT}"
    assert len(cloud.requests) == before + 1
    assert cloud.requests[-1].body["model"] == "big-cloud-model"
    request = records(connected, kind="request")[-1]
    assert (request["backend"], request["zone"], request["decision"]) == ("cloud", "external", "allow")


def test_phi_names_leave_only_as_placeholders_and_come_back_restored(connected: ApplianceServer,
                                                                     standins: tuple[StandIn, StandIn]) -> None:
    cloud, _ = standins
    before = len(cloud.requests)
    answer = ask(connected, "cloud-model", NAME_PROMPT)
    sent = cloud.requests[before:]
    assert len(sent) == 1
    assert "Okafor" not in str(sent[0].body) and "Margaret" not in str(sent[0].body)
    assert "[PERSON_1]" in sent[0].prompt_text
    assert "Margaret Okafor" in answer  # the placeholder echoed by the stand-in is restored for the client
    request = records(connected, kind="request")[-1]
    assert request["decision"] == "redact" and "hipaa:external-round-trip" in request["rules"]
    assert request["findings"].get("PERSON") == 1


@pytest.mark.parametrize("prompt, rule", [(MRN_PROMPT, "hipaa:external-record-numbers"), (PAN_PROMPT, "pci:")])
def test_record_numbers_and_card_numbers_never_reach_the_external_host(
        connected: ApplianceServer, standins: tuple[StandIn, StandIn], prompt: str, rule: str) -> None:
    cloud, _ = standins
    before = len(cloud.requests)
    with pytest.raises(openai.BadRequestError) as refused:
        ask(connected, "cloud-model", prompt)
    assert refused.value.code == "policy_blocked"
    assert rule in refused.value.message
    assert "48213377" not in refused.value.message and "4111" not in refused.value.message
    assert len(cloud.requests) == before
    blocks = records(connected, kind="policy_block")
    assert blocks[-1]["zone"] == "external" and any(r.startswith(rule) for r in blocks[-1]["rules"])


def test_phi_may_go_to_the_internal_fleet_for_treatment(connected: ApplianceServer,
                                                        standins: tuple[StandIn, StandIn]) -> None:
    _, fleet = standins
    before = len(fleet.requests)
    answer = ask(connected, "fleet-model", MRN_PROMPT)
    assert answer == f"Stand-in heard: {MRN_PROMPT}"
    assert fleet.requests[before].prompt_text == MRN_PROMPT
    request = records(connected, kind="request")[-1]
    assert (request["zone"], request["decision"]) == ("internal", "allow")


def test_air_gapped_mode_refuses_every_route_out(tmp_path: Path, standins: tuple[StandIn, StandIn]) -> None:
    cloud, fleet = standins
    before = (len(cloud.requests), len(fleet.requests))
    with start(tmp_path, "air-gapped", standins) as server:
        for model in ("cloud-model", "fleet-model"):
            with pytest.raises(openai.PermissionDeniedError) as refused:
                ask(server, model, BENIGN_PROMPT)
            assert refused.value.code == "egress_refused"
        assert ask(server, "smollm2-135m-instruct", BENIGN_PROMPT)  # local still serves
        assert len(records(server, kind="route_refused")) == 2
    assert (len(cloud.requests), len(fleet.requests)) == before


LABS_TOOL = {"type": "function", "function": {"name": "get_labs", "description": "Latest lab results",
                                              "parameters": {"type": "object", "properties": {"mrn": {"type": "string"}}}}}


def tool_conversation(arguments: str, result: str) -> list[dict]:
    return [{"role": "user", "content": "Fetch the latest labs and summarise them."},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_7", "type": "function", "function": {"name": "get_labs", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "call_7", "content": result}]


@pytest.mark.parametrize("arguments, result", [
    ('{"mrn": "48213377"}', "Potassium 4.1 mmol/L, within range."),  # the call's arguments carry it
    ('{"mrn": "on file"}', "Labs for MRN 48213377: potassium 4.1 mmol/L."),  # the tool's result carries it
])
def test_a_tool_call_carrying_a_record_number_never_reaches_the_external_host(
        connected: ApplianceServer, standins: tuple[StandIn, StandIn], arguments: str, result: str) -> None:
    cloud, _ = standins
    before = len(cloud.requests)
    client = openai.OpenAI(base_url=connected.base_url, api_key=connected.tokens["clinical"], max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="cloud-model", messages=tool_conversation(arguments, result),
                                       tools=[LABS_TOOL])
    assert refused.value.code == "policy_blocked" and "hipaa:external-record-numbers" in refused.value.message
    assert "48213377" not in refused.value.message
    assert len(cloud.requests) == before


def test_tools_and_response_format_are_forwarded_in_openai_form(connected: ApplianceServer,
                                                                standins: tuple[StandIn, StandIn]) -> None:
    cloud, _ = standins
    client = openai.OpenAI(base_url=connected.base_url, api_key=connected.tokens["clinical"], max_retries=0)
    conversation = tool_conversation('{"mrn": "on file"}', "Potassium 4.1 mmol/L, within range.")
    client.chat.completions.create(model="cloud-model", messages=conversation, tools=[LABS_TOOL], tool_choice="auto",
                                   response_format={"type": "json_object"})
    sent = cloud.requests[-1].body
    assert sent["tools"] == [LABS_TOOL] and sent["tool_choice"] == "auto"
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["messages"][1]["tool_calls"][0]["function"] == {"name": "get_labs", "arguments": '{"mrn": "on file"}'}
    assert sent["messages"][2] == {"role": "tool", "content": "Potassium 4.1 mmol/L, within range.",
                                   "tool_call_id": "call_7"}


def test_a_tool_definition_carrying_a_record_number_never_reaches_the_external_host(
        connected: ApplianceServer, standins: tuple[StandIn, StandIn]) -> None:
    cloud, _ = standins
    before = len(cloud.requests)
    leaky = {"type": "function", "function": {"name": "get_labs", "description": "Labs of the patient with MRN 48213377"}}
    client = openai.OpenAI(base_url=connected.base_url, api_key=connected.tokens["clinical"], max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="cloud-model", messages=[{"role": "user", "content": "Fetch the labs."}],
                                       tools=[leaky])
    assert refused.value.code == "policy_blocked" and "48213377" not in refused.value.message
    assert len(cloud.requests) == before
