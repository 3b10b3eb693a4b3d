"""PCI DSS cardholder data: PAN (Luhn, any common layout), CVV, expiry date, magnetic-stripe tracks."""
from __future__ import annotations

import re

from .. import checksums as cs
from .base import RuleRecognizer, compact, labelled, rule

# 13-19 digits, either plain or in groups of 3-6 separated by one space or dash throughout.
PAN = r"(?<![\d\-])(?:\d{13,19}|\d{4}(?P<sep>[ \-.])\d{4,6}(?:(?P=sep)\d{3,5}){1,3})(?![\d\-]|[ ]\d)"
# (prefixes, allowed lengths) of the major card brands.
BRANDS = (
    (("4",), (13, 16, 19)),                                        # Visa
    (("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27"), (16,)),  # Mastercard
    (("34", "37"), (15,)),                                         # American Express
    (("30", "36", "38"), (14, 16)),                                # Diners Club
    (("35",), (16, 17, 18, 19)),                                   # JCB
    (("6011", "64", "65", "62"), (16, 17, 18, 19)),                # Discover, UnionPay
)
TRACK1 = r"%?B\d{13,19}\^[A-Z .'/\-]{2,26}\^\d{4}[\d ]{0,40}\??"
TRACK2 = r";?\d{13,19}=\d{4}\d{0,30}\??"
CARD_WORDS = r"card|credit|debit|visa|mastercard|amex|discover|PAN|cc"


def _pan_score(match: re.Match[str]) -> float | None:
    number = compact(match.group(0))
    if not cs.is_luhn_valid(number) or not any(
        number.startswith(prefixes) and len(number) in lengths for prefixes, lengths in BRANDS
    ):
        return None
    if number.startswith("2") and not 2221 <= int(number[:4]) <= 2720:
        return None
    context = match.string[max(0, match.start() - 40):match.start()]
    grouped = number != match.group(0)
    return 0.95 if re.search(rf"\b(?:{CARD_WORDS})\b", context, re.I) else (0.85 if grouped else 0.7)


def credit_card() -> RuleRecognizer:
    return RuleRecognizer("CREDIT_CARD", [rule(PAN, _pan_score)], "CreditCardRecognizer")


def card_cvv() -> RuleRecognizer:
    labels = r"CVV2?|CVC2?|CID|CSC|security\s+code|card\s+verification(?:\s+(?:value|code))?|verification\s+code"
    return RuleRecognizer("CARD_CVV", [labelled(labels, r"\d{3,4}", 0.9)], "CardCvvRecognizer")


def card_expiry() -> RuleRecognizer:
    labels = r"exp(?:iry|iration|ires|\.)?(?:\s+date)?|valid\s+(?:thru|through|until|to)|good\s+thru|expiration\s+date"
    value = r"(?:0?[1-9]|1[0-2])\s?[/\-]\s?(?:20)?\d{2}"
    return RuleRecognizer("CARD_EXPIRY", [labelled(labels, value, 0.85)], "CardExpiryRecognizer")


def card_track() -> RuleRecognizer:
    return RuleRecognizer("CARD_TRACK_DATA", [rule(TRACK1, _luhn_valid_track), rule(TRACK2, _luhn_valid_track)],
                          "CardTrackDataRecognizer")


def _luhn_valid_track(match: re.Match[str]) -> float | None:
    """Track data counts only when the card number inside it passes the Luhn check."""
    number = re.search(r"\d{13,19}", match.group(0))
    return 0.95 if number is not None and cs.is_luhn_valid(number.group(0)) else None


def all_pci() -> list[RuleRecognizer]:
    return [credit_card(), card_cvv(), card_expiry(), card_track()]


