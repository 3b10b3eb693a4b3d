"""Everything that crosses the boundary is scanned, over the real API: every evasion of the suite is
refused or sent only redacted to an external backend (a stand-in on 127.0.0.2), `stop` strings and
identifiers split over messages are refused, integers are bounded (a seed going out is scanned) and
unknown text fields refused."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.appliance_server import ApplianceServer, init_data_dir, routed_config
from tests.standin import StandIn

sys.path.insert(0, str(Path(__file__).parent / "data" / "detection"))
from evasions import EVASIONS  # noqa: E402

pytestmark = pytest.mark.slow
SSN_DIGITS = "219099998"


@pytest.fixture(scope="module")
def connected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApplianceServer, StandIn]]:
    """A connected appliance whose `cloud-model` alias routes to an external stand-in on 127.0.0.2."""
    data_dir = tmp_path_factory.mktemp("detect-api") / "data"
    with StandIn("127.0.0.2") as standin:
        config = routed_config("connected", {"cloud": ("external", standin.url, "big-cloud-model")})
        with ApplianceServer(data_dir, init_data_dir(data_dir, config)) as server:
            yield server, standin


@pytest.fixture(scope="module")
def appliance(connected: tuple[ApplianceServer, StandIn]) -> ApplianceServer:
    return connected[0]


@pytest.fixture(scope="module")
def cloud(connected: tuple[ApplianceServer, StandIn]) -> StandIn:
    return connected[1]


def chat(server: ApplianceServer, messages: list[str], model: str = "cloud-model", **extra: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": m} for m in messages], **extra}
    return httpx.post(server.base_url + "/chat/completions", json=body, headers=server.headers(), timeout=120)


def sent_since(cloud: StandIn, before: int) -> str:
    return json.dumps([r.body for r in cloud.requests[before:]], ensure_ascii=False)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


@pytest.mark.parametrize("case", EVASIONS, ids=[e.name for e in EVASIONS])
def test_every_evasion_is_refused_or_leaves_only_redacted(appliance: ApplianceServer, cloud: StandIn, case) -> None:
    before = len(cloud.requests)
    reply = chat(appliance, list(case.messages))
    sent = sent_since(cloud, before)
    if reply.status_code == 400:
        assert reply.json()["error"]["code"] == "policy_blocked"
        assert sent == "[]", "nothing reaches the external backend"
    else:
        assert reply.status_code == 200, reply.text
        assert "[PERSON_" in sent, sent  # the only evasion that is redacted rather than blocked is a name
        assert "kowalczyk" not in sent.lower() and "agnieszka" not in sent.lower()
    assert SSN_DIGITS not in _digits(sent) and "4111" not in sent


def test_a_stop_string_carrying_a_card_number_is_refused(appliance: ApplianceServer, cloud: StandIn) -> None:
    before = len(cloud.requests)
    reply = chat(appliance, ["Write one sentence about the weather."], stop=["4111 1111 1111 1111"])
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "policy_blocked"
    assert sent_since(cloud, before) == "[]"


def test_a_stop_string_carrying_a_name_leaves_redacted(appliance: ApplianceServer, cloud: StandIn) -> None:
    before = len(cloud.requests)
    reply = chat(appliance, ["Write one sentence about the weather."], stop=["Margaret Okafor"])
    assert reply.status_code == 200, reply.text
    forwarded = cloud.requests[before].body
    assert "Okafor" not in json.dumps(forwarded) and forwarded["stop"] == ["[PERSON_1]"]


def test_a_benign_stop_string_is_forwarded_as_given(appliance: ApplianceServer, cloud: StandIn) -> None:
    before = len(cloud.requests)
    assert chat(appliance, ["Count to five."], stop=["\n\n", "END"]).status_code == 200
    assert cloud.requests[before].body["stop"] == ["\n\n", "END"]


def test_an_ssn_split_over_two_messages_is_refused(appliance: ApplianceServer, cloud: StandIn) -> None:
    before = len(cloud.requests)
    reply = chat(appliance, ["her social security number is 219-09", "-9998"])
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "policy_blocked"
    assert sent_since(cloud, before) == "[]"


def test_a_label_and_its_value_in_separate_messages_are_refused(appliance: ApplianceServer, cloud: StandIn) -> None:
    before = len(cloud.requests)
    reply = chat(appliance, ["Look up this MRN:", "8249813"])
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "policy_blocked"
    assert sent_since(cloud, before) == "[]"


def test_integers_are_bounded(appliance: ApplianceServer, cloud: StandIn) -> None:
    before = len(cloud.requests)
    seed = chat(appliance, ["Count to five."], seed=4111111111111111111111)
    assert seed.status_code == 400 and "seed" in seed.text
    tokens = chat(appliance, ["Count to five."], max_tokens=4111111111111111)
    assert tokens.status_code == 400 and tokens.json()["error"]["param"] == "max_tokens"
    card_seed = chat(appliance, ["Count to five."], seed=4111111111111111)
    assert card_seed.status_code == 400 and card_seed.json()["error"]["param"] == "seed"
    assert sent_since(cloud, before) == "[]"
    assert chat(appliance, ["Count to five."], seed=1234, max_tokens=8).status_code == 200
    local = chat(appliance, ["Count to five."], model="smollm2-135m-instruct", seed=2**63 - 1, max_tokens=4)
    assert local.status_code == 200, local.text


def test_unknown_text_fields_are_refused_before_anything_is_sent(appliance: ApplianceServer,
                                                                  cloud: StandIn) -> None:
    before = len(cloud.requests)
    reply = chat(appliance, ["Count to five."], metadata={"note": "patient Jane Roe SSN 219-09-9998"})
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "unknown_field"
    assert reply.json()["error"]["param"] == "metadata"
    assert "Jane" not in reply.text and sent_since(cloud, before) == "[]"
    local = chat(appliance, ["Count to five."], model="smollm2-135m-instruct", max_tokens=4, metadata={"note": "hello"})
    assert local.status_code == 400 and local.json()["error"]["code"] == "unknown_field", local.text
