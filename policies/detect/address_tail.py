"""What follows a street address on its line, in any country's order: town, region and postal code
("12 Elm Road, Leeds LS6 2AB", "4497 Queen Street N, Saskatoon, SK S7K 1J5", "Lindenstraße 4, 79098
Freiburg", "9 Abbey Parade, Wollongong NSW 2500"). The first part must follow a comma; parts stop at
anything that is not a capitalised town, an upper-case region code or a postal-code shape.
"""
from __future__ import annotations

import re

from ..findings import Finding

RECOGNIZER = "AddressTailRecognizer"
SCORE = 0.6  # below the typed city/state/ZIP recognizers: where they found the same text, they win
POSTAL_SCORE = 0.72  # above a street parser's guess that a postcode's first half is a place ("Stockport TF2")
MAX_PARTS = 4
TOWN = r"[A-ZÀ-Þ][a-zß-ÿ'’-]+(?:[ ](?:[A-ZÀ-Þ][a-zß-ÿ'’-]+|de|la|upon|on|sur|am|im)){0,2}"
REGION = r"[A-Z]{2,3}"
POSTAL = (r"[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[A-Z]{2}"  # UK
          r"|[A-Z]\d[A-Z][ ]?\d[A-Z]\d"            # Canada
          r"|[A-Z]\d{2}[ ]?[A-Z\d]{4}"            # Ireland (Eircode)
          r"|\d{4}[ ]?[A-Z]{2}"                   # the Netherlands
          r"|\d{2}-\d{3}|\d{3}[ ]\d{2}"            # Poland; Sweden, Czechia
          r"|\d{4,5}(?:-\d{4})?")                 # US, Germany, France, Spain, Italy, Australia, ...
PART = re.compile(rf"(?P<gap>[ \t]*,?[ \t]*)(?:(?P<postal>{POSTAL})|(?P<region>{REGION})|(?P<town>{TOWN}))(?![\w'’-])")
ENTITIES = {"postal": "ZIP_CODE", "region": "LOCATION", "town": "LOCATION"}


def address_tails(text: str, findings: list[Finding]) -> list[Finding]:
    """Town, region and postal code findings after each STREET_ADDRESS finding."""
    tails: list[Finding] = []
    for street in (f for f in findings if f.entity_type == "STREET_ADDRESS"):
        position = street.end
        for index in range(MAX_PARTS):
            match = PART.match(text, position)
            if match is None or (index == 0 and "," not in match.group("gap")):
                break
            kind = match.lastgroup or ""
            if kind == "region" and not _postal_follows(text, match.end()):
                break  # a region code goes with a postcode ("SK S7K 1J5", "NSW 2500"); "NI number" is no region
            score = POSTAL_SCORE if kind == "postal" else SCORE
            tails.append(Finding(match.start(kind), match.end(kind), ENTITIES[kind], score, RECOGNIZER))
            position = match.end()
    return tails


def _postal_follows(text: str, position: int) -> bool:
    following = PART.match(text, position)
    return following is not None and following.lastgroup == "postal"
