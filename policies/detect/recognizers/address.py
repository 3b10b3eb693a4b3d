"""US street addresses read by `usaddress` (a CRF parser trained on real addresses), not by a suffix list.

Candidates are a house number and the capitalised words after it on the same line; the parser labels
the words, and a candidate is an address when it has a street name and a street type (USPS suffixes
such as Springs, Trace, Knoll are known to the parser). What follows the street in the same parse
becomes findings too: unit, city (LOCATION), state (LOCATION) and ZIP code, also without a state
("..., Lake Tina 75863").
"""
from __future__ import annotations

import re

import usaddress
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from .base import RuleRecognizer
from .geo import US_STATE_CODES, US_STATE_NAMES

CANDIDATE = re.compile(r"(?<![\w/.:-])\d{1,6}[A-Z]?[ ]+(?:[NSEW]\.?[ ]+)?[A-Z][A-Za-z'.-]*(?:[ ]+[A-Za-z0-9'.#-]+,?){0,9}")
STOP = re.compile(r"(?:\.[ ]|;|\(|\)|[ ](?:and|with|for|to|on|at|in|who|which|since|from|was|is)[ ])")
ABBREVIATION_DOT = re.compile(r"\b(?:Apt|Ste|St|Ave|Rd|Dr|Blvd|Fl|Rm|Bldg|No|Mt|Ft|Pkwy|Hwy|Ln|Ct|[NSEW])\.$")  # "Apt. 456"
STREET_LABELS = ("AddressNumber", "AddressNumberSuffix", "StreetNamePreDirectional", "StreetNamePreModifier",
                 "StreetNamePreType", "StreetName", "StreetNamePostType", "StreetNamePostDirectional",
                 "OccupancyType", "OccupancyIdentifier", "SubaddressType", "SubaddressIdentifier")
PLACE_LABELS = {"PlaceName": "LOCATION", "StateName": "LOCATION", "ZipCode": "ZIP_CODE"}
STREET_SCORE, PLACE_SCORE = 0.85, 0.7


class UsAddressRecognizer(RuleRecognizer):
    """STREET_ADDRESS, and the LOCATION and ZIP_CODE parsed with it."""

    def __init__(self) -> None:
        super().__init__("STREET_ADDRESS", [], "UsAddressRecognizer")
        self.supported_entities = ["STREET_ADDRESS", "LOCATION", "ZIP_CODE"]

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        results, position = [], 0
        while (match := CANDIDATE.search(text, position)) is not None:
            window = match.group(0)
            stop = next((m for m in STOP.finditer(window) if not ABBREVIATION_DOT.search(window, 0, m.start() + 1)), None)
            window = window[:stop.start()] if stop else window
            for entity, start, end, score in _parsed_spans(window.rstrip(" ,")):
                results.append(self.result(entity, match.start() + start, match.start() + end, score))
            position = match.start() + max(len(window), 1)  # a second address inside the candidate gets its own
        return results


def _parsed_spans(window: str) -> list[tuple[str, int, int, float]]:
    """(entity, start, end, score) in `window`, or nothing if the parser does not see a street."""
    try:
        parsed = usaddress.parse(window)
    except Exception:  # the parser refuses some inputs: then it is not an address
        return []
    located, position = [], 0
    for token, label in parsed:
        start = window.find(token, position)
        if start < 0:
            return []
        located.append((label, start, start + len(token.rstrip(",")), token))
        position = start + len(token)
    street = _leading(located, STREET_LABELS)
    labels = {label for label, *_ in street}
    if not {"StreetName", "StreetNamePostType"} <= labels or not all(
            token[0].isupper() for label, _, _, token in street if label in ("StreetName", "StreetNamePostType")):
        return []
    spans = [("STREET_ADDRESS", street[0][1], street[-1][2], STREET_SCORE)]
    for label, start, end, token in located[len(street):]:
        entity = PLACE_LABELS.get(label)
        if entity is None or not _plausible(label, token):
            break
        if spans[-1][0] == entity and label == "PlaceName":
            spans[-1] = (entity, spans[-1][1], end, PLACE_SCORE)
        else:
            spans.append((entity, start, end, PLACE_SCORE))
    return spans


def _leading(located: list[tuple[str, int, int, str]], labels: tuple[str, ...]) -> list[tuple[str, int, int, str]]:
    """The tokens from the start whose labels are street parts (a second house number ends it)."""
    taken = []
    for item in located:
        if item[0] not in labels or (item[0] == "AddressNumber" and taken):
            break
        taken.append(item)
    return taken


def _plausible(label: str, token: str) -> bool:
    word = token.rstrip(",")
    if label == "ZipCode":
        return re.fullmatch(r"\d{5}(?:-\d{4})?", word) is not None
    if label == "StateName":
        return word.rstrip(".") in US_STATE_CODES or word in US_STATE_NAMES  # "..., NI number" is no state
    return word[:1].isupper()
