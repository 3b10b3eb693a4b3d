"""Telephone, fax and pager numbers: North American layouts, international/UK numbers, and
`phonenumbers` in its lenient mode (numbers that fail strict validity, such as an exchange starting
with 0 or 1), trusted when a phone word is near or the number is laid out as one."""
from __future__ import annotations

import re

import phonenumbers
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from .base import RuleRecognizer, rule

# "(415) 867-5309", "001-415-867-5309x123", "+1-415-867-5309 ext. 12": an international prefix and an extension may go with it.
EXTENSION = r"(?:[ ]?(?:x|ext\.?|extension)[ ]?\d{1,5}\b)?"
NANP = rf"(?<![\w+])(?:\+?1[\s.\-]?|001[\s.\-])?(?:\([2-9]\d{{2}}\)\s?|[2-9]\d{{2}}[\s.\-])[2-9]\d{{2}}[\s.\-]\d{{4}}(?!\d){EXTENSION}"
INTERNATIONAL = r"(?<![\w+])(?:\+|00)(?:[1-9]\d{0,2})(?:[\s.\-]?\(?\d{1,4}\)?){2,6}(?![\w])"  # +44 ..., 0044 ...
UK_NATIONAL = r"(?<![\w+])0\d{2,4}[\s\-]?\d{3,4}[\s\-]?\d{3,4}(?![\w])"
LABELLED_DIGITS = r"(?i:\b(?:phone|tel|telephone|mobile|cell|fax|pager|call|contact|callback)\b)[\s:#.]*(?P<value>\d{10})\b"
# "pager 84710", "page Dr Wells at 96643": a pager number, the person paged possibly between.
PAGER = (r"(?i:\b(?:pager|beeper|pgr|bleep|page)\b)(?:[ \t]+(?:Dr\.?[ \t]+)?[A-Z][a-z]+(?=[ \t]+(?:at|on)\b))?"
         r"(?:[ \t]+(?:at|on|is|no\.?|number|#))?[\s:#.]*(?P<value>\d{4,7})\b")
PHONE_WORDS = re.compile(r"(?i)\b(?:phone|tel|telephone|mobile|cell|fax|call|called|calls|contact|callback|reach|text"
                         r"|number|ph|tél|telefono|teléfono|telefon|numéro|whatsapp)\b")
LAID_OUT = re.compile(r"^(?:\+|\(\d{3}\)|\d{3}[ .-]\d{3}[ .-]\d{4}$)")
GLUED_TO_CODE = re.compile(r"[A-Za-z][-/.]")
CONTEXT_CHARS = 40
LENIENT_SCORE, CONTEXT_SCORE = 0.55, 0.7
REGIONS = ("US", "GB")


def _digit_count(low: int, high: int, score: float):
    def scorer(match: re.Match[str]) -> float | None:
        digits = sum(c.isdigit() for c in match.group(0))
        return score if low <= digits <= high else None
    return scorer


def phone() -> RuleRecognizer:
    return RuleRecognizer("PHONE_NUMBER", [
        rule(NANP, 0.75),
        rule(INTERNATIONAL, _digit_count(8, 15, 0.7)),
        rule(UK_NATIONAL, _digit_count(10, 11, 0.6)),
        rule(LABELLED_DIGITS, 0.8),
        rule(PAGER, 0.75),
    ], "PhoneRecognizer")


class LenientPhoneRecognizer(RuleRecognizer):
    """Numbers `phonenumbers` finds as possible (not necessarily valid) for the US or the UK, or in
    international form; kept when laid out as a phone number or near a phone word."""

    def __init__(self) -> None:
        super().__init__("PHONE_NUMBER", [], "LenientPhoneRecognizer")

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        spans: dict[tuple[int, int], float] = {}
        for region in REGIONS:
            for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
                context = PHONE_WORDS.search(text[max(0, match.start - CONTEXT_CHARS):match.start])
                if GLUED_TO_CODE.fullmatch(text[max(0, match.start - 2):match.start]):
                    continue  # the digits of a code: "K-5764885"
                if context or LAID_OUT.match(match.raw_string):
                    spans[(match.start, match.end)] = CONTEXT_SCORE if context else LENIENT_SCORE
        return [self.result("PHONE_NUMBER", start, end, score) for (start, end), score in spans.items()]
