"""The recall-first layer for text leaving the appliance (non-local zones), after UCSF's Philter.

What is not known-safe vocabulary is treated as an identifier:
- a capitalised word that is neither everyday English nor a clinical or drug word (lexicon.py), unless
  it opens a sentence and spaCy does not read it as a proper noun; an upper-case abbreviation of up to
  five letters, a word of up to three letters and a heading ("Labs:") count as vocabulary unless
  beside a name;
- a word from the name tables: when rare as an English word always, when common ("Grace", "Wells")
  if spaCy reads it as a proper noun away from the start of a line, or it stands beside another name
  or after a cue ("called Grace", "Grace (wife)"); a lower-case name that is not English vocabulary
  ("agnieszka kowalczyk") (words.py);
- a place: a gazetteer city or country, a place prefix with a name ("Lake Tina"), a named care
  facility ("Northgate General Hospital") (places.py);
- a number of six or more digits, or a code mixing letters and at least three digits, that is not a
  dose, measurement, range or sum ("8249813", "560-40-78-5", "MR744590", "EMP-36808", "ZBY/3186/26");
  a handle: unknown letters with digits ("cnasser76"), parts joined by "_", one of them no vocabulary ("kofi_san");
- a short date: "2/03", "3/80", a month name ("since November");
- both parts of a dictation line: "XGT:holmes".
For the external zone, `external_findings` adds: any run of nine or more digits (separators removed)
and any long encoded run (decoded or not), unless a typed finding already covers it.
"""
from __future__ import annotations

import re
from typing import Iterable

from spacy.tokens import Doc

from ..findings import Finding
from .lexicon import Lexicon
from .places import FACILITY_SCORE, facility_spans, place_spans
from .words import name_spans, word_units

RECOGNIZER = "RecallFirstLayer"
EXTERNAL_RECOGNIZER = "ExternalZoneRule"
SCORE = 0.55  # below every typed recognizer: a typed finding over the same text wins
CODE = re.compile(r"^(?:[A-Z]\d{2}(?:\.\d+)?|[A-Z]\d{4}|\d{4,5}-\d)$")  # ICD-10, HCPCS, LOINC
UNITS = (r"mg|mcg|ug|g|kg|lb|lbs|ml|mL|l|L|cc|mmol|mmHg|meq|mEq|iu|IU|units?|u|cm|mm|m|km|hrs?|h|min|mins|s|sec|yrs?|y|d|wk|wks"
         r"|mos?|x|am|pm|st|nd|rd|th|s|bpm|kcal|cal|%")
MEASUREMENT = re.compile(rf"^\d+(?:\.\d+)?(?:{UNITS})$")
# A run of letters and digits with single inner separators: "8249813", "560-40-78-5", "EMP-36808",
# "winter.6918", "ZBY/3186/26", "sunita_gol", "@marta88" (a handle's @ is part of it).
CODE_RUN = re.compile(r"(?<![\w@./:-])@?[A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)*(?![\w@]|[-_./:]\w)")
SPINAL_LEVEL = re.compile(r"^[CTLS]\d{1,2}-[CTLS]?\d{1,2}$")  # "T12-L1", "C5-6"
DECIMAL = re.compile(r"^\d+\.\d{1,2}$")  # "12450.00", a sum
SHORT_DATE = re.compile(r"(?<![\w/.:-])(?:0?[1-9]|1[0-2])/(?:\d{2})(?![\w/:-]|\.\d)")
MONTH = re.compile(r"\b(?:January|February|March|April|June|July|August|September|October|November|December"
                   r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b")
MAY = re.compile(r"(?i:\b(?:since|in|until|till|from|by|early|late|mid-?|last|next))[ \t]+(?P<month>May)\b")  # the month, not the verb
# Dictation and initials lines under a note: "XGT:holmes", "GPP/church" (author initials / typist).
DICTATION = re.compile(r"(?m)^[ \t]*(?P<initials>[A-Z]{2,4})[:/](?P<typist>[a-z]{2,15})[ \t]*$")
DIGIT_RUN = re.compile(r"(?<![\w])\d(?:[ \-.]?\d){8,}(?![\w])")
ENCODED_RUN = re.compile(r"(?<![A-Za-z0-9+/=])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[A-Za-z])[A-Za-z0-9+/]{24,}={0,2}")


def recall_findings(text: str, doc: Doc, lexicon: Lexicon) -> list[Finding]:
    """Identifiers by absence from safe vocabulary (non-local zones)."""
    words = word_units(text, doc)
    found = [Finding(s, e, "PERSON", SCORE, RECOGNIZER) for s, e in name_spans(words, text, lexicon)]
    found += [Finding(s, e, "LOCATION", SCORE, RECOGNIZER) for s, e in place_spans(words, text, lexicon)]
    found += [Finding(s, e, "LOCATION", FACILITY_SCORE, RECOGNIZER) for s, e in facility_spans(text, lexicon)]
    found += [Finding(m.start(), m.end(), "UNKNOWN_IDENTIFIER", SCORE, RECOGNIZER) for m in CODE_RUN.finditer(text)
              if _identifier_like(m.group(0).lstrip("@"), lexicon)]
    found += [Finding(m.start(), m.end(), "DATE_TIME", SCORE, RECOGNIZER) for m in SHORT_DATE.finditer(text)
              if not text[m.end():m.end() + 1].isdigit() and not m.group(0).endswith("/10")]
    found += [Finding(m.start(), m.end(), "DATE_TIME", SCORE, RECOGNIZER) for m in MONTH.finditer(text)]
    found += [Finding(*m.span("month"), "DATE_TIME", SCORE, RECOGNIZER) for m in MAY.finditer(text)]
    found += [Finding(*m.span(group), "PERSON", SCORE, RECOGNIZER) for m in DICTATION.finditer(text)
              for group in ("initials", "typist")]
    return found


def external_findings(text: str, decoded: Iterable[tuple[int, int]], typed: list[Finding]) -> list[Finding]:
    """The external-zone rule: long digit runs and encoded runs not already covered by a typed finding."""
    spans = [(m.start(), m.end()) for pattern in (DIGIT_RUN, ENCODED_RUN) for m in pattern.finditer(text)]
    spans += list(decoded)
    return [Finding(start, end, "UNKNOWN_IDENTIFIER", SCORE, EXTERNAL_RECOGNIZER) for start, end in spans
            if not any(f.start <= start and end <= f.end for f in typed)]


def _identifier_like(value: str, lexicon: Lexicon) -> bool:
    """A record number or code, not a dose, measurement, medical code, range or sum; a handle: letters
    that are no vocabulary with two or more digits ("cnasser76"), or parts joined by "_", one of them no
    vocabulary ("kofi_san"; "max_tokens" is code)."""
    digits = sum(c.isdigit() for c in value)
    letters = sum(c.isalpha() for c in value)
    if MEASUREMENT.match(value) or CODE.match(value) or SPINAL_LEVEL.match(value) or DECIMAL.match(value):
        return False
    if not letters:  # "560-40-78-5" is a record number, "104-118" a range, "142/88" a pressure
        if "/" in value and all(len(p) <= 3 for p in re.split(r"[/.]", value)):
            return False  # "7.31/48/62/24": a blood gas
        return digits >= 8 or (digits >= 6 and value.count("-") != 1 and "/" not in value)
    if re.fullmatch(r"[A-Za-z]{1,3}-\d{1,4}", value):
        return False  # a form or model number: "CMS-1500", "F-150"
    if digits >= 3 and len(value) >= 5:
        return True
    pieces = re.findall(r"[a-z]+", value.lower())
    if digits >= 2 and letters >= 4 and not any(p in lexicon.safe_words for p in pieces):
        return True  # "setxeberria88", "mqureshi39"
    return "_" in value and any(p not in lexicon.safe_words for p in pieces if len(p) > 2)
