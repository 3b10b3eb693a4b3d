"""Telephone and fax numbers: North American layouts and international/UK numbers."""
from __future__ import annotations

import re

from .base import RuleRecognizer, rule

NANP = r"(?<![\w+])(?:\+?1[\s.\-]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[\s.\-])[2-9]\d{2}[\s.\-]\d{4}(?!\d)"
INTERNATIONAL = r"(?<![\w+])(?:\+|00)(?:[1-9]\d{0,2})(?:[\s.\-]?\(?\d{1,4}\)?){2,6}(?![\w])"  # +44 ..., 0044 ...
UK_NATIONAL = r"(?<![\w+])0\d{2,4}[\s\-]?\d{3,4}[\s\-]?\d{3,4}(?![\w])"
LABELLED_DIGITS = r"(?i:\b(?:phone|tel|telephone|mobile|cell|fax|pager|call|contact|callback)\b)[\s:#.]*(?P<value>\d{10})\b"


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
    ], "PhoneRecognizer")
