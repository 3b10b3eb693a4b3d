"""Detection and policy on the API: every prompt and answer scanned and decided, per pack.

An "internal" stand-in on 127.0.0.3 plays the model, so the test sees exactly what the model was sent
and controls what it answers (including answers streamed in small pieces).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest

from tests.appliance_server import ApplianceServer, init_data_dir, routed_config, run_cli
from tests.standin import StandIn, echo_reply

pytestmark = pytest.mark.slow
PAN = "4111 1111 1111 1111"
MASKED_PAN = "4111 11** **** 1111"


@pytest.fixture(scope="module")
def fleet() -> Iterator[StandIn]:
    with StandIn("127.0.0.3") as standin:
        yield standin


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, fleet: StandIn) -> Iterator[ApplianceServer]:
    data_dir = tmp_path_factory.mktemp("policy-api") / "data"
    tokens = init_data_dir(data_dir, routed_config("connected", {"fleet": ("upstream", fleet.url, "fleet-70b")}))
    tokens["research"] = run_cli("keys", "create", "--role", "clinical", "--name", "study-7", "--purpose", "research",
                                 data_dir=data_dir).stdout.split()[-1]
    with ApplianceServer(data_dir, tokens) as server:
        yield server


@pytest.fixture(autouse=True)
def echo_by_default(fleet: StandIn) -> None:
    fleet.reply = echo_reply


def chat(server: ApplianceServer, prompt: str, role: str = "clinical", **extra: object) -> str:
    client = openai.OpenAI(base_url=server.base_url, api_key=server.tokens[role], max_retries=0)
    reply = client.chat.completions.create(model="fleet-model", messages=[{"role": "user", "content": prompt}],
                                           **extra)
    if extra.get("stream"):
        return "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
    return reply.choices[0].message.content


def test_scan_endpoint_reports_findings_and_decision(served: ApplianceServer) -> None:
    text = f"Card {PAN} for patient Maria Lopez"
    reply = httpx.post(served.base_url + "/scan", headers=served.headers("auditor"),
                       json={"text": text, "zone": "external"})
    assert reply.status_code == 200
    body = reply.json()
    found = {(f["entity_type"], text[f["start"]:f["end"]]) for f in body["findings"]}
    assert ("CREDIT_CARD", PAN) in found and ("PERSON", "Maria Lopez") in found
    assert body["decision"]["action"] == "block"
    assert "pci:pan-external-block" in body["decision"]["rules"]
    assert httpx.post(served.base_url + "/scan", headers=served.headers("admin"), json={"text": "x"}).status_code == 403
    bad = httpx.post(served.base_url + "/scan", headers=served.headers(), json={"text": "x", "purpose": "marketing"})
    assert bad.status_code == 400 and "unknown purpose 'marketing'" in bad.json()["error"]["message"]


def test_research_purpose_sends_and_returns_only_placeholders(served: ApplianceServer, fleet: StandIn) -> None:
    before = len(fleet.requests)
    answer = chat(served, "Summarise the case of Maria Lopez, admitted 03/14/2024.", role="research")
    sent = fleet.requests[before].prompt_text
    assert "Maria Lopez" not in sent and "[PERSON_1]" in sent
    assert "Maria Lopez" not in answer and "[PERSON_1]" in answer  # Safe Harbor: never restored


def test_card_verification_code_is_blocked_naming_the_rule(served: ApplianceServer, fleet: StandIn) -> None:
    before = len(fleet.requests)
    with pytest.raises(openai.BadRequestError) as blocked:
        chat(served, f"Charge card {PAN} with CVV 737 for the co-pay.")
    assert blocked.value.code == "policy_blocked"
    assert "pci:" in blocked.value.message and "PCI DSS" in blocked.value.message
    assert "737" not in blocked.value.message and "4111" not in blocked.value.message
    assert len(fleet.requests) == before


@pytest.mark.parametrize("stream", [False, True])
def test_card_number_in_an_answer_is_masked(served: ApplianceServer, fleet: StandIn, stream: bool) -> None:
    fleet.reply = lambda _prompt: f"The card on file is {PAN} and it expires soon."
    answer = chat(served, "Which card is on file for the account?", stream=stream)
    assert PAN not in answer and "4111111111111111" not in answer
    assert MASKED_PAN in answer
    outcome = httpx.get(served.base_url + "/audit/records", headers=served.headers("auditor"),
                        params={"kind": "outcome", "limit": 1000}).json()["data"][-1]
    assert outcome["response_decision"] == "redact" and "pci:pan-answer-mask" in outcome["response_rules"]


def test_identifier_split_across_stream_chunks_is_still_caught(served: ApplianceServer, fleet: StandIn) -> None:
    # The stand-in streams its answer a few characters per SSE event, so the SSN is cut across chunks.
    fleet.reply = lambda _prompt: "Per research protocol the subject's SSN is 536-22-8145 on the intake form."
    answer = chat(served, "What is on the intake form?", role="research", stream=True)
    assert "536-22-8145" not in answer and "8145" not in answer
    assert "[US_SSN_1]" in answer
