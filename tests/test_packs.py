"""Policy packs: the bundled packs load; malformed packs are refused with file, line and reason."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from policies.policy_engine import PolicyEngine
from policies.findings import Finding
from policies.pack import BUNDLED_PACKS, PURPOSES, PackError, load_pack, load_packs

VALID = """\
id = "demo"
version = "1.0.0"
title = "Demo pack"

[classes.contact]
entities = ["PERSON", "EMAIL_ADDRESS"]
keep_inside = false

[[rules]]
id = "local-allow"
when = { zone = "local", purpose = "any", classes = ["contact"], direction = "any" }
action = "allow"
citation = "Demo Art. 1"

[[rules]]
id = "external-redact"
action = "redact"
citation = "Demo Art. 2"
[rules.when]
zone = "external"
purpose = ["treatment", "research"]
classes = ["contact"]
direction = "prompt"
"""


def write(tmp_path: Path, text: str, name: str = "demo.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_packs_load_with_versions_and_hashes() -> None:
    packs = load_packs()
    assert sorted(p.id for p in packs) == ["gdpr", "hipaa", "pci"]
    for pack in packs:
        source = BUNDLED_PACKS / f"{pack.id}.toml"
        assert pack.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
        assert pack.version.count(".") == 2
        assert pack.rules and all(rule.citation.strip() for rule in pack.rules)


def test_bundled_packs_cite_the_regulations() -> None:
    citations = {p.id: {r.id: r.citation for r in p.rules} for p in load_packs()}
    assert "164.514(b)(2)" in citations["hipaa"]["research-safe-harbor"]
    assert "164.502(b)" in citations["hipaa"]["internal-minimum-necessary"]
    assert "Art. 44" in citations["gdpr"]["external-transfer"]
    assert "Art. 89" in citations["gdpr"]["research-pseudonymise"]
    assert "Req. 3.4.1" in citations["pci"]["pan-answer-mask"]
    assert "Req. 3.3.1" in citations["pci"]["sad-never"]


def test_keep_inside_data_never_reaches_the_external_zone_in_clear() -> None:
    """The appliance's egress requirement, checked over every kept class, entity type and purpose."""
    packs = load_packs()
    engine = PolicyEngine(packs)
    kept = {e for p in packs for c in p.classes.values() if c.keep_inside for e in c.entities}
    assert {"PERSON", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "PASSPORT", "UK_NHS"} <= kept
    value = "Value-7731"
    text = f"Please look at {value} today."
    finding = Finding(text.index(value), text.index(value) + len(value), "", 0.9, "test")
    for entity_type in sorted(kept):
        assert engine.keeps_inside(entity_type)
        for purpose in PURPOSES:
            typed = Finding(finding.start, finding.end, entity_type, 0.9, "test")
            decision = engine.decide([text], [[typed]], purpose=purpose, zone="external", direction="prompt")
            assert decision.action in ("redact", "block"), (entity_type, purpose)
            if decision.action == "redact":
                assert value not in decision.texts[0], (entity_type, purpose)


def test_valid_demo_pack_loads(tmp_path: Path) -> None:
    pack = load_pack(write(tmp_path, VALID))
    assert (pack.id, pack.version, [r.id for r in pack.rules]) == ("demo", "1.0.0", ["local-allow", "external-redact"])
    assert pack.rules[1].zones == {"external"} and pack.rules[0].zones == {"local"}
    assert pack.rules[0].purposes == set(PURPOSES)


MALFORMED = [
    ("bad toml syntax", 'action = "allow"', 'action = "allow', 12, "invalid TOML"),
    ("unknown action", 'action = "allow"', 'action = "permit"', 12, "unknown action 'permit'"),
    ("unknown entity type", '"PERSON", "EMAIL_ADDRESS"', '"PERSON", "E_MAIL"', 6, "unknown entity type 'E_MAIL'"),
    ("missing citation", 'citation = "Demo Art. 2"\n', "", 15, "rule 'external-redact' lacks required key 'citation'"),
    ("duplicate rule id", 'id = "external-redact"', 'id = "local-allow"', 16, "duplicate rule id 'local-allow'"),
    ("unknown zone", 'zone = "external"', 'zone = "cloud"', 20, "unknown zone 'cloud'"),
    ("unknown purpose", '"treatment", "research"', '"treatment", "marketing"', 21, "unknown purpose 'marketing'"),
    ("unknown direction", 'direction = "prompt"', 'direction = "sideways"', 23, "unknown direction 'sideways'"),
    ("undefined class", 'classes = ["contact"]\ndirection', 'classes = ["finance"]\ndirection', 22,
     "undefined class 'finance'"),
    ("unknown key", 'citation = "Demo Art. 1"', 'citation = "Demo Art. 1"\nseverity = "high"', 14,
     "unknown key 'severity' in rule 'local-allow'"),
    ("bad version", 'version = "1.0.0"', 'version = "1.0"', 2, "version must look like '1.2.3'"),
    ("empty citation", 'citation = "Demo Art. 1"', 'citation = "  "', 13, "'citation' must be a non-empty string"),
    ("mask cannot restore", 'action = "redact"', 'action = "redact"\nstyle = "mask"\nrestore = true', 19,
     "restore needs style 'placeholder'"),
    ("style on allow", 'action = "allow"', 'action = "allow"\nstyle = "mask"', 13, "only meaningful for action 'redact'"),
    ("keep_inside allowed out", 'keep_inside = false', 'keep_inside = true', 7,
     "no redact or block rule for prompts to the external zone for purpose 'payment'"),
]


@pytest.mark.parametrize(("old", "new", "line", "reason"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_pack_is_refused_with_file_line_and_reason(tmp_path: Path, old: str, new: str, line: int,
                                                             reason: str) -> None:
    assert VALID.count(old) == 1
    path = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(PackError) as refused:
        load_pack(path)
    message = str(refused.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert reason in message
    assert "\n" not in message


def test_allow_rule_for_kept_class_to_external_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("keep_inside = false", "keep_inside = true").replace('action = "redact"', 'action = "allow"')
    path = write(tmp_path, text)
    with pytest.raises(PackError, match=r":17: rule 'external-redact' allows keep_inside class 'contact' to the external"):
        load_pack(path)


def test_pack_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(VALID.replace("Demo pack", "D\xe9mo pack").encode("latin-1"))
    with pytest.raises(PackError, match=r"latin1.toml:3: not UTF-8 text"):
        load_pack(path)


def test_directory_with_two_packs_of_the_same_id_is_refused(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.toml")
    write(tmp_path, VALID.replace('title = "Demo pack"', 'title = "Copy"'), "b.toml")
    with pytest.raises(PackError, match=r"b.toml:1: duplicate pack id 'demo'"):
        load_packs(tmp_path)


def test_directory_without_packs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="no policy packs"):
        load_packs(tmp_path)


def test_one_bad_pack_refuses_the_whole_directory(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.toml")
    write(tmp_path, VALID.replace('id = "demo"', 'id = "other"').replace('"allow"', '"permit"'), "b.toml")
    with pytest.raises(PackError, match=r"b.toml:12: .*unknown action 'permit'"):
        load_packs(tmp_path)
