"""GDPR-relevant national identifiers: IBAN, UK NHS and NI numbers, EU national ids, passports."""
from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from .. import checksums as cs
from .base import RuleRecognizer, Scorer, checked, compact, labelled, rule, with_digits

IBAN_CANDIDATE = r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"
NHS = r"\d{3}(?P<nhs_sep>[ \-]?)\d{3}(?P=nhs_sep)\d{4}"
NINO = r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?<!BG|GB|KN|NK|NT|TN|ZZ) ?\d{2} ?\d{2} ?\d{2} ?[A-D]"
NIR = r"[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}"


class IbanCodeRecognizer(RuleRecognizer):
    """IBANs (ISO 13616, mod 97); a trailing word caught by the grouped layout is trimmed off."""

    def __init__(self) -> None:
        super().__init__("IBAN_CODE", [], "IbanCodeRecognizer")
        self.candidate = re.compile(IBAN_CANDIDATE)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        results = []
        for match in self.candidate.finditer(text):
            candidate = match.group(0)
            while candidate and not cs.is_valid_iban(compact(candidate)):
                candidate = candidate.rsplit(" ", 1)[0] if " " in candidate else ""
            if candidate:
                results.append(self.result("IBAN_CODE", match.start(), match.start() + len(candidate), 0.95))
        return results


def _nhs_score(match: re.Match[str]) -> float | None:
    if not cs.is_valid_nhs(compact(match.group(0))):
        return None
    return 0.6 if match.group("nhs_sep") else 0.4


def uk_nhs() -> RuleRecognizer:
    return RuleRecognizer("UK_NHS", [
        rule(rf"\b{NHS}\b", _nhs_score),
        labelled(r"NHS(?:\s+(?:number|no|#))?", NHS, checked(cs.is_valid_nhs, 0.95)),
    ], "UkNhsRecognizer")


def uk_nino() -> RuleRecognizer:
    return RuleRecognizer("UK_NINO", [rule(rf"\b{NINO}\b", 0.85)], "UkNinoRecognizer")


def _pesel_score(score: float) -> Scorer:
    def scorer(match: re.Match[str]) -> float | None:
        number = compact(match.group("value") if "value" in match.re.groupindex else match.group(0))
        return score if cs.is_valid_pesel(number) and int(number[2:4]) % 20 in range(1, 13) else None
    return scorer


def eu_national_id() -> RuleRecognizer:
    steuer_labels = r"steuer-?ID|steuer-?IdNr|steuerliche\s+identifikationsnummer|IdNr|tax\s+identification\s+number"
    return RuleRecognizer("EU_NATIONAL_ID", [
        rule(r"\b\d{8}-?[A-Z]\b", checked(cs.is_valid_spanish_id, 0.85)),             # ES DNI
        rule(r"\b[XYZ]-?\d{7}-?[A-Z]\b", checked(cs.is_valid_spanish_id, 0.9)),        # ES NIE
        rule(r"\b[A-Z]{6}\d{2}[ABCDEHLMPRST]\d{2}[A-Z]\d{3}[A-Z]\b", checked(cs.is_valid_codice_fiscale, 0.95)),
        rule(rf"\b{NIR}\b", checked(cs.is_valid_nir, 0.8)),                             # FR NIR / INSEE
        labelled(steuer_labels, r"[1-9]\d ?\d{3} ?\d{3} ?\d{3}", checked(cs.is_valid_steuer_id, 0.95)),
        labelled(r"BSN|burgerservicenummer|citizen\s+service\s+number", r"\d{4}\.?\d{2}\.?\d{3}",
                 checked(cs.bsn_is_eleven_proof, 0.95)),
        labelled(r"PESEL", r"\d{11}", _pesel_score(0.95)),
        rule(r"\b\d{11}\b", _pesel_score(0.45)),
    ], "EuNationalIdRecognizer")


def passport() -> RuleRecognizer:
    labels = r"passport(?:\s*(?:#|number|no|num))?|pass\s+no|reisepass(?:nummer)?|pasaporte|passeport"
    return RuleRecognizer("PASSPORT", [labelled(labels, r"[A-Z0-9]{6,9}", with_digits(5, 0.9))], "PassportRecognizer")


def all_gdpr() -> list[RuleRecognizer]:
    return [IbanCodeRecognizer(), uk_nhs(), uk_nino(), eu_national_id(), passport()]
