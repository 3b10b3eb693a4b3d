"""No secrets or PHI in the server's own output. Runs after the other boundary suites on the same
server (file order), sends its own PHI- and key-laden probes first, then scans the server log and
every audit record with the real detector; API keys never appear at all."""
from __future__ import annotations

import ipaddress
import json
from typing import Iterator

import httpx
import pytest

from policies.detect import Detector
from tests.appliance_server import ApplianceServer

pytestmark = [pytest.mark.slow, pytest.mark.boundary]

MODEL = "smollm2-135m-instruct"
PHI = ["Margaret Okafor", "536-22-8145", "48213377", "4111 1111 1111 1111", "margaret.okafor@example.org"]
PROMPT = (f"Patient {PHI[0]}, SSN {PHI[1]}, MRN {PHI[2]}, paid with card {PHI[3]}; reach her at {PHI[4]}. "
          "Summarise the visit in one line.")


def structural(entity_type: str, value: str) -> bool:
    """What records and the log legitimately hold: timestamps and the loopback client address."""
    if entity_type == "IP_ADDRESS":
        try:
            return ipaddress.ip_address(value.strip("[]")).is_loopback
        except ValueError:
            return False
    return entity_type == "DATE_TIME"


def probe_with_phi_and_keys(server: ApplianceServer) -> None:
    """Put PHI and key material everywhere a caller can: paths, queries, headers, bodies, bad keys."""
    forged = server.tokens["clinical"][:-4] + "AAAA"  # a real key id with a wrong secret
    for headers in ({}, {"Authorization": f"Bearer {forged}"}, {"Authorization": f"Bearer {server.tokens['revoked']}"},
                    {"Authorization": f"Basic {PHI[0]}"}):
        httpx.get(f"{server.base_url}/audit/records/{PHI[2]}", headers=headers, params={"q": PHI[1]})
        httpx.post(server.base_url + "/chat/completions", headers={**headers, "X-Forwarded-For": PHI[4]},
                   json={"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]})
    chat = httpx.post(server.base_url + "/chat/completions", headers=server.headers(), timeout=120,
                      json={"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": PROMPT}]})
    assert chat.status_code in (200, 400), chat.text
    httpx.post(server.base_url + "/scan", headers=server.headers(), json={"text": PROMPT})
    httpx.post(server.base_url + "/chat/completions", headers=server.headers(),
               json={"model": PROMPT, "messages": [{"role": "user", "content": PROMPT}]})
    httpx.post(server.base_url + "/completions", headers=server.headers(), content=PROMPT.encode("utf-16"))


def every_record(server: ApplianceServer) -> Iterator[dict]:
    offset = 0
    while True:
        page = httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"), timeout=60,
                         params={"limit": 1000, "offset": offset}).json()["data"]
        yield from page
        if len(page) < 1000:
            return
        offset += len(page)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.load()


def test_server_log_and_audit_records_carry_no_keys_and_no_phi(boundary_server: ApplianceServer,
                                                               detector: Detector) -> None:
    probe_with_phi_and_keys(boundary_server)
    records = list(every_record(boundary_server))
    log = boundary_server.log_path.read_text() if boundary_server.log_path else ""
    texts = {f"record {r['seq']} ({r['kind']})": json.dumps(r) for r in records}
    texts |= {f"log line {n}": line for n, line in enumerate(log.splitlines(), 1) if line.strip()}
    assert records and log, "nothing to scan"

    secrets = [token.split("_", 2)[2] for token in boundary_server.tokens.values()]
    for where, text in texts.items():
        assert not any(secret in text for secret in secrets), f"an API key secret appears in {where}"
        assert not any(value in text for value in PHI), f"PHI sent by the probe appears in {where}: {text[:300]}"
    leaks = {where: [(f.entity_type, text[f.start:f.end]) for f in found
                     if not structural(f.entity_type, text[f.start:f.end])]
             for (where, text), found in zip(texts.items(), detector.analyze_many(list(texts.values())))}
    leaks = {where: found for where, found in leaks.items() if found}
    assert leaks == {}
