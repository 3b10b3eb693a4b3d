"""Detection beyond enumerated patterns: normalisation with an offset map, the recall-first layer of
non-local zones, the external-zone rule, and every case of the evasion suite (tests/data/detection)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from policies.detect import Detector
from tests.appliance_server import run_cli

sys.path.insert(0, str(Path(__file__).parent / "data" / "detection"))
from evasions import EVASIONS  # noqa: E402

BENIGN = [
    "Assessment: type 2 diabetes mellitus (E11.9), HbA1c 8.2%. Increase metformin to 1000 mg BID. Recheck in 3 months.",
    "Vitals: BP 132/84, HR 88, RR 16, T 37.1 C, SpO2 97% on RA. Labs: Na 138, K 4.1, Cr 1.1, WBC 7.4, Hgb 12.9.",
    "Continue Eliquis 5 mg BID; hold Toprol XL 25 mg if HR < 55. Lovenox 40 mg daily. Parkinson's disease is stable.",
    "Echo: LVEF 35-40%, moderate MR. Start carvedilol 6.25 mg BID and spironolactone 25 mg; pain 4/10 today.",
]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.load()


def values(detector: Detector, text: str, zone: str) -> set[str]:
    scan = detector.scan(text, zone)
    return {scan.text[f.start:f.end] for f in scan.findings}


@pytest.mark.parametrize("case", EVASIONS, ids=[e.name for e in EVASIONS])
def test_every_evasion_is_flagged_for_the_external_zone(detector: Detector, case) -> None:
    scans = detector.scan_messages(list(case.messages), "external")
    assert scans[-1].findings, [s.text for s in scans]


def test_findings_point_at_the_original_text(detector: Detector) -> None:
    text = "SSN 219\u200b-09\u200c-99\u200d98 and card \uff14111 1111 1111 1111 for Ms. Roe"
    scan = detector.scan(text, "local")
    found = {(f.entity_type, text[f.start:f.end]) for f in scan.original_findings}
    assert ("US_SSN", "219\u200b-09\u200c-99\u200d98") in found
    assert ("CREDIT_CARD", "\uff14111 1111 1111 1111") in found
    assert scan.text == text, "the local zone gets the original text"


def test_non_local_zones_get_exactly_the_text_that_was_scanned(detector: Detector) -> None:
    scan = detector.scan("SSN 219\u200b-09-9998 \u2014 call \uff16175550134", "external")
    assert scan.text == "SSN 219-09-9998 - call 6175550134"
    assert {scan.text[f.start:f.end] for f in scan.findings} >= {"219-09-9998", "6175550134"}


def test_recall_first_layer_finds_what_no_pattern_names(detector: Detector) -> None:
    note = "OROZCO,KYLE   560-40-78-5\nCalled Anna re labs. CABG in 3/80.\n\nFILBERT BRIGHT, M.D.\nXGT:holmes\n"
    found = values(detector, note, "internal")
    assert {"OROZCO", "KYLE", "560-40-78-5", "Anna", "3/80", "FILBERT", "BRIGHT", "XGT", "holmes"} <= found
    assert "XGT" not in values(detector, note, "local"), "the local zone keeps the precise detector"


@pytest.mark.parametrize("text", BENIGN)
def test_clinical_vocabulary_is_known_safe(detector: Detector, text: str) -> None:
    assert values(detector, text, "external") == set()


def test_long_digit_and_encoded_runs_are_blocked_only_outside(detector: Detector) -> None:
    text = "ref 4402 9981 7731 and token QmFzZTY0IGlzIG5vdCBzYWZlIGhlcmU9 sent"
    assert {"4402 9981 7731", "Base64 is not safe here="} <= values(detector, text, "external")
    assert values(detector, text, "local") == set()


def test_scan_jsonl_finds_evasions_with_offsets_into_the_original_lines() -> None:
    lines = [case.messages[0] for case in EVASIONS if len(case.messages) == 1]
    result = run_cli("scan", "--jsonl", stdin="".join(json.dumps(line) + "\n" for line in lines))
    outputs = [json.loads(row) for row in result.stdout.splitlines()]
    assert len(outputs) == len(lines)
    for line, findings in zip(lines, outputs):
        assert findings, line
        assert all(0 <= f["start"] < f["end"] <= len(line) for f in findings)


def test_scan_text_for_the_external_zone_prints_what_would_be_sent() -> None:
    result = run_cli("scan", "card 4111.1111.1111.1111 for Ms. Agnieszka Kowalczyk", "--zone", "external",
                     "--purpose", "treatment")
    report = json.loads(result.stdout)
    assert report["decision"]["action"] == "block" and report["decision"]["text"] is None
    result = run_cli("scan", "letter for agnieszka kowalczyk, ssn two one nine zero nine nine nine nine eight",
                     "--zone", "internal", "--purpose", "billing")
    report = json.loads(result.stdout)
    assert report["decision"]["action"] == "redact"
    assert "kowalczyk" not in report["decision"]["text"] and "219099998" not in report["decision"]["text"]


def test_recall_layer_generalises_to_international_text(detector: Detector) -> None:
    """Places from the gazetteer, address tails of other countries, codes and handles, common-word surnames."""
    text = ("Hi, I'm Seo-yeon van Dijk, I moved from Thessaloniki to Kastanienweg 58, 04558 Regensburg. "
            "Login setxeberria88, employee EMP-36808. Third party: Ciaran Cross, seen at Northgate General Hospital.\n"
            "CHURCH,DMITRI   8249813")
    found = values(detector, text, "external")
    for expected in ("Seo-yeon", "van", "Dijk", "Thessaloniki", "Kastanienweg 58", "04558", "Regensburg", "setxeberria88",
                     "EMP-36808", "Ciaran", "Cross", "Northgate General Hospital", "CHURCH", "DMITRI"):
        assert any(expected in value for value in found), (expected, found)


def test_address_tails_of_other_countries_are_found_in_every_zone(detector: Detector) -> None:
    text = "Send it to 4497 Queen Street N, Saskatoon, SK S7K 1J5 or 12 Elm Road, Leeds LS6 2AB, NI number later."
    found = values(detector, text, "local")
    assert {"4497 Queen Street N", "S7K 1J5", "LS6 2AB"} <= found
    assert "NI" not in found, "a region code goes with a postcode"


@pytest.mark.parametrize("text", [
    "The depot closes early on Friday; collections resume on Monday. Reply STOP to opt out.",
    "Spinal fusion T12-L1; ABG 7.31/48/62/24; CLAIM FORM (CMS-1500); total EUR 12450.00; variable max_tokens.",
    "Agent: Is there anything else? Caller: No, thanks. Agent: Lovely.",
])
def test_general_vocabulary_stays_safe_outside(detector: Detector, text: str) -> None:
    assert values(detector, text, "external") == set()
