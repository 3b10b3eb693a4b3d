"""PolicyEngine over the bundled packs: each action by zone/purpose/direction, precedence, placeholders.

Findings are built from the exact position of the value in the text (what the detector reports);
the detector itself is exercised in the stream guard tests and the detector's own tests.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from policies.policy_engine import PolicyEngine
from policies.findings import Finding
from policies.pack import load_pack, load_packs
from policies.redact import restore

ENGINE = PolicyEngine(load_packs())


def found(text: str, *values: tuple[str, str]) -> list[Finding]:
    """Findings for each (value, entity type), at every place the value occurs in `text`."""
    findings = []
    for value, entity_type in values:
        start = text.find(value)
        assert start >= 0, value
        while start >= 0:
            findings.append(Finding(start, start + len(value), entity_type, 0.9, "test"))
            start = text.find(value, start + 1)
    return findings


def decide_one(text: str, *values: tuple[str, str], **context: str):
    return ENGINE.decide([text], [found(text, *values)], **context)  # type: ignore[arg-type]


def test_phi_to_the_local_model_for_treatment_is_allowed_unchanged() -> None:
    text = "Jane Roe, MRN 00123456, was admitted on 3 March 2024."
    d = decide_one(text, ("Jane Roe", "PERSON"), ("00123456", "MEDICAL_RECORD_NUMBER"), ("3 March 2024", "DATE_TIME"),
                   purpose="treatment", zone="local", direction="prompt")
    assert d.action == "allow"
    assert d.texts == [text]
    assert d.rule_ids == ["gdpr:local-care", "hipaa:local-tpo"]
    assert "45 CFR 164.506(c)" in d.citations
    assert d.finding_counts == {"DATE_TIME": 1, "MEDICAL_RECORD_NUMBER": 1, "PERSON": 1}


def test_research_use_is_de_identified_with_placeholders() -> None:
    text = "Jane Roe, MRN 00123456, was admitted on 3 March 2024."
    d = decide_one(text, ("Jane Roe", "PERSON"), ("00123456", "MEDICAL_RECORD_NUMBER"), ("3 March 2024", "DATE_TIME"),
                   purpose="research", zone="local", direction="prompt")
    assert d.action == "redact"
    assert d.texts == ["[PERSON_1], MRN [MEDICAL_RECORD_NUMBER_1], was admitted on [DATE_TIME_1]."]
    assert d.placeholders == {"[PERSON_1]": "Jane Roe", "[MEDICAL_RECORD_NUMBER_1]": "00123456",
                              "[DATE_TIME_1]": "3 March 2024"}
    assert "45 CFR 164.514(b)(2)" in d.citations
    assert ENGINE.restores(d) == {}, "Safe Harbor output must not be re-identified"


def test_pan_to_the_local_model_is_masked_to_first_six_and_last_four() -> None:
    d = decide_one("Charge card 4111111111111111 for the copay.", ("4111111111111111", "CREDIT_CARD"),
                   purpose="billing", zone="local", direction="prompt")
    assert d.action == "redact"
    assert d.texts == ["Charge card 411111******1111 for the copay."]
    assert [r.rule_id for r in d.deciding_rules] == ["pan-local-mask"]
    assert d.placeholders == {}


def test_mask_keeps_the_layout_of_a_spaced_pan() -> None:
    d = decide_one("card 5500 0000 0000 0004 ok", ("5500 0000 0000 0004", "CREDIT_CARD"),
                   purpose="treatment", zone="local", direction="response")
    assert d.texts == ["card 5500 00** **** 0004 ok"]
    assert [r.rule_id for r in d.deciding_rules] == ["pan-answer-mask"]


@pytest.mark.parametrize("zone", ["internal", "external"])
def test_pan_to_another_host_is_blocked_and_the_text_is_left_untouched(zone: str) -> None:
    text = "Charge card 4111111111111111."
    d = decide_one(text, ("4111111111111111", "CREDIT_CARD"), purpose="billing", zone=zone, direction="prompt")
    assert d.action == "block"
    assert d.texts == [text]
    assert [r.rule_id for r in d.deciding_rules] == [f"pan-{zone}-block"]


def test_card_verification_code_is_blocked_even_for_the_local_model() -> None:
    d = decide_one("CVV 123", ("123", "CARD_CVV"), purpose="payment", zone="local", direction="prompt")
    assert d.action == "block"
    assert d.deciding_rules[0].citation == "PCI DSS v4.0 Req. 3.3.1"


def test_internal_zone_allows_phi_only_for_treatment() -> None:
    text = "Discharge summary for Jane Roe."
    treatment = decide_one(text, ("Jane Roe", "PERSON"), purpose="treatment", zone="internal", direction="prompt")
    payment = decide_one(text, ("Jane Roe", "PERSON"), purpose="payment", zone="internal", direction="prompt")
    assert treatment.action == "allow" and treatment.texts == [text]
    assert payment.action == "redact" and payment.texts == ["Discharge summary for [PERSON_1]."]
    assert "hipaa:internal-minimum-necessary" in payment.rule_ids


def test_external_zone_redacts_names_for_a_round_trip_but_blocks_record_numbers() -> None:
    names = decide_one("Summarise the visit of Jane Roe on 3 March 2024.", ("Jane Roe", "PERSON"),
                       ("3 March 2024", "DATE_TIME"), purpose="treatment", zone="external", direction="prompt")
    assert names.action == "redact"
    assert names.texts == ["Summarise the visit of [PERSON_1] on [DATE_TIME_1]."]
    assert ENGINE.restores(names) == {"[PERSON_1]": "Jane Roe", "[DATE_TIME_1]": "3 March 2024"}
    ssn = decide_one("Jane Roe, SSN 123-45-6789", ("Jane Roe", "PERSON"), ("123-45-6789", "US_SSN"),
                     purpose="treatment", zone="external", direction="prompt")
    assert ssn.action == "block"
    assert ssn.rule_ids == ["gdpr:external-pseudonymise", "hipaa:external-round-trip", "hipaa:external-record-numbers"]
    assert [r.rule_id for r in ssn.deciding_rules] == ["external-record-numbers"]


def test_gdpr_blocks_transfer_of_national_identifiers_but_allows_them_locally() -> None:
    text = "Passport 123456789 on file."
    out = decide_one(text, ("123456789", "PASSPORT"), purpose="operations", zone="external", direction="prompt")
    local = decide_one(text, ("123456789", "PASSPORT"), purpose="operations", zone="local", direction="prompt")
    assert out.action == "block" and "GDPR Art. 44" in out.deciding_rules[0].citation
    assert local.action == "allow" and local.rule_ids == ["gdpr:local-care"]


def test_direction_matters_pan_answer_from_internal_host_is_masked_not_blocked() -> None:
    text = "The card on file is 4111111111111111."
    prompt = decide_one(text, ("4111111111111111", "CREDIT_CARD"), purpose="billing", zone="internal",
                        direction="prompt")
    answer = decide_one(text, ("4111111111111111", "CREDIT_CARD"), purpose="billing", zone="internal",
                        direction="response")
    assert prompt.action == "block"
    assert answer.action == "redact" and answer.texts == ["The card on file is 411111******1111."]


def test_most_restrictive_rule_wins_when_bundled_packs_disagree() -> None:
    """GDPR allows an ordinary name inside the facility for billing; HIPAA wants the minimum necessary."""
    d = decide_one("Invoice for Jane Roe", ("Jane Roe", "PERSON"), purpose="billing", zone="internal",
                   direction="prompt")
    assert {r.rule_id: r.action for r in d.fired} == {"internal-administration": "allow",
                                                      "internal-minimum-necessary": "redact"}
    assert d.action == "redact" and d.texts == ["Invoice for [PERSON_1]"]


def pack_file(tmp_path: Path, pack_id: str, action: str) -> Path:
    path = tmp_path / f"{pack_id}.toml"
    path.write_text(f"""
id = "{pack_id}"
version = "2.1.0"
title = "Pack {pack_id}"
[classes.people]
entities = ["PERSON"]
keep_inside = false
[[rules]]
id = "people-{action}"
when = {{ zone = "any", purpose = "any", classes = ["people"], direction = "any" }}
action = "{action}"
citation = "Test {pack_id}"
""", encoding="utf-8")
    return path


@pytest.mark.parametrize(("first", "second", "expected"), [
    ("allow", "block", "block"), ("block", "allow", "block"), ("allow", "redact", "redact"),
    ("redact", "allow", "redact"), ("redact", "block", "block"), ("allow", "allow", "allow"),
])
def test_most_restrictive_wins_whatever_the_pack_order(tmp_path: Path, first: str, second: str, expected: str) -> None:
    engine = PolicyEngine([load_pack(pack_file(tmp_path, "a", first)), load_pack(pack_file(tmp_path, "b", second))])
    text = "Ask Jane Roe."
    d = engine.decide([text], [found(text, ("Jane Roe", "PERSON"))], purpose="treatment", zone="local",
                      direction="prompt")
    assert d.action == expected
    assert [r.action for r in d.deciding_rules] == [expected] * len(d.deciding_rules)
    assert d.texts == (["Ask [PERSON_1]."] if expected == "redact" else [text])


def test_finding_no_rule_covers_is_allowed_by_default_and_still_counted(tmp_path: Path) -> None:
    engine = PolicyEngine([load_pack(pack_file(tmp_path, "a", "redact"))])
    text = "Mail jane@example.org, ask Jane Roe."
    d = engine.decide([text], [found(text, ("jane@example.org", "EMAIL_ADDRESS"), ("Jane Roe", "PERSON"))],
                      purpose="treatment", zone="local", direction="prompt")
    assert d.texts == ["Mail jane@example.org, ask [PERSON_1]."]
    assert d.finding_counts == {"EMAIL_ADDRESS": 1, "PERSON": 1}
    assert not engine.keeps_inside("EMAIL_ADDRESS") and not engine.keeps_inside("PERSON")
    only_email = engine.decide([text], [found(text, ("jane@example.org", "EMAIL_ADDRESS"))], purpose="treatment",
                               zone="local", direction="prompt")
    assert only_email.action == "allow" and only_email.fired == []


def test_same_value_gets_the_same_placeholder_across_messages_and_into_the_answer() -> None:
    texts = ["Jane Roe saw John Smith.", "Did John Smith call Jane Roe back?"]
    people = (("Jane Roe", "PERSON"), ("John Smith", "PERSON"))
    d = ENGINE.decide(texts, [found(t, *people) for t in texts], purpose="research", zone="local", direction="prompt")
    assert d.texts == ["[PERSON_1] saw [PERSON_2].", "Did [PERSON_2] call [PERSON_1] back?"]
    answer = "John Smith and Ann Lee agreed."
    a = ENGINE.decide([answer], [found(answer, ("John Smith", "PERSON"), ("Ann Lee", "PERSON"))], purpose="research",
                      zone="local", direction="response", placeholders=d.placeholders)
    assert a.texts == ["[PERSON_2] and [PERSON_3] agreed."]
    assert a.placeholders == {"[PERSON_1]": "Jane Roe", "[PERSON_2]": "John Smith", "[PERSON_3]": "Ann Lee"}
    assert d.placeholders == {"[PERSON_1]": "Jane Roe", "[PERSON_2]": "John Smith"}, "input mapping not mutated"


def test_restore_round_trip_puts_values_back_into_the_external_answer() -> None:
    prompt = "Write a referral for Jane Roe, seen on 3 March 2024 at 12 Oak Street."
    d = decide_one(prompt, ("Jane Roe", "PERSON"), ("3 March 2024", "DATE_TIME"), ("12 Oak Street", "STREET_ADDRESS"),
                   purpose="operations", zone="external", direction="prompt")
    assert d.texts == ["Write a referral for [PERSON_1], seen on [DATE_TIME_1] at [STREET_ADDRESS_1]."]
    for value in ("Jane Roe", "3 March 2024", "12 Oak Street"):
        assert value not in d.texts[0]
    cloud_answer = "Dear colleague, [PERSON_1] (seen [DATE_TIME_1]) lives at [STREET_ADDRESS_1]. See [PERSON_9]."
    assert restore(cloud_answer, ENGINE.restores(d)) == (
        "Dear colleague, Jane Roe (seen 3 March 2024) lives at 12 Oak Street. See [PERSON_9].")


def test_placeholder_is_restorable_only_if_every_rule_that_made_it_says_restore(tmp_path: Path) -> None:
    path = tmp_path / "mixed.toml"
    path.write_text("""
id = "mixed"
version = "1.0.0"
title = "Restore for people, not for places"
[classes.people]
entities = ["PERSON"]
keep_inside = false
[classes.places]
entities = ["LOCATION"]
keep_inside = false
[[rules]]
id = "people-round-trip"
when = { zone = "any", purpose = "any", classes = ["people"], direction = "prompt" }
action = "redact"
restore = true
citation = "Test 1"
[[rules]]
id = "places-one-way"
when = { zone = "any", purpose = "any", classes = ["places"], direction = "prompt" }
action = "redact"
citation = "Test 2"
""", encoding="utf-8")
    engine = PolicyEngine([load_pack(path)])
    texts = ["Jordan called.", "Flights to Jordan.", "Ann Lee called."]
    findings = [found(texts[0], ("Jordan", "PERSON")), found(texts[1], ("Jordan", "LOCATION")),
                found(texts[2], ("Ann Lee", "PERSON"))]
    d = engine.decide(texts, findings, purpose="treatment", zone="external", direction="prompt")
    assert d.texts == ["[PERSON_1] called.", "Flights to [PERSON_1].", "[PERSON_2] called."]
    assert engine.restores(d) == {"[PERSON_2]": "Ann Lee"}


def test_restore_does_not_rewrite_values_that_look_like_placeholders() -> None:
    assert restore("[A_1] and [B_1]", {"[A_1]": "[B_1]", "[B_1]": "x"}) == "[B_1] and x"


def test_overlapping_findings_become_one_placeholder() -> None:
    text = "Lives at 12 Oak Street, Springfield."
    d = decide_one(text, ("12 Oak Street, Springfield", "STREET_ADDRESS"), ("Springfield", "LOCATION"),
                   purpose="research", zone="local", direction="prompt")
    assert d.texts == ["Lives at [STREET_ADDRESS_1]."]


def test_decision_repr_carries_no_sensitive_value() -> None:
    d = decide_one("Jane Roe", ("Jane Roe", "PERSON"), purpose="research", zone="local", direction="prompt")
    assert "Jane Roe" not in repr(d)


@pytest.mark.parametrize(("context", "message"), [
    ({"purpose": "marketing", "zone": "local", "direction": "prompt"}, "unknown purpose 'marketing'"),
    ({"purpose": "treatment", "zone": "cloud", "direction": "prompt"}, "unknown zone 'cloud'"),
    ({"purpose": "treatment", "zone": "local", "direction": "reply"}, "unknown direction 'reply'"),
])
def test_unknown_context_is_refused(context: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ENGINE.decide(["x"], [[]], **context)  # type: ignore[arg-type]


def test_findings_that_do_not_fit_the_texts_are_refused() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 finding lists"):
        ENGINE.decide(["a", "b"], [[]], purpose="treatment", zone="local", direction="prompt")
    with pytest.raises(ValueError, match="outside message 0"):
        ENGINE.decide(["short"], [[Finding(2, 40, "PERSON", 0.9, "test")]], purpose="treatment", zone="local",
                      direction="prompt")


def test_engine_refuses_to_run_without_packs() -> None:
    with pytest.raises(ValueError, match="no policy packs"):
        PolicyEngine([])


def test_packs_info_names_every_pack_in_force() -> None:
    info = ENGINE.packs_info()
    assert [i["id"] for i in info] == ["gdpr", "hipaa", "pci"]
    assert all(len(i["sha256"]) == 64 and i["version"] == "1.0.0" for i in info)
