"""The recall-first layer for text leaving the appliance (non-local zones), after UCSF's Philter.

What is not known-safe vocabulary is treated as an identifier:
- a capitalised word that is neither everyday English nor a clinical or drug word (lexicon.py), unless
  it opens a sentence and spaCy does not read it as a proper noun; an upper-case abbreviation of up to
  five letters, a word of up to three letters and a heading ("Labs:") count as vocabulary unless
  beside a name;
- a word from the name tables: when rare as an English word always, when common ("Grace", "Wells")
  if spaCy reads it as a proper noun away from the start of a line, or it stands beside another name;
- a lower-case word that is a name and not English vocabulary ("agnieszka kowalczyk");
- a number of six or more digits, or a code mixing letters and at least three digits, that is not a
  dose or measurement ("8249813", "560-40-78-5", "MR744590");
- a short date: "2/03", "3/80", a month name ("since November");
- both parts of a dictation line: "XGT:holmes".
For the external zone, `external_findings` adds: any run of nine or more digits (separators removed)
and any long encoded run (decoded or not), unless a typed finding already covers it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from spacy.tokens import Doc, Token

from ..findings import Finding
from .lexicon import Lexicon
from .recognizers.names import (
    CREDENTIALS,
    DOSE_AFTER,
    EPONYM_AFTER,
    LABELS,
    NOT_NAME_PHRASE,
    NOT_NAME_WORDS,
    ORG_WORDS,
    RELATIVES,
    TITLES,
)

RECOGNIZER = "RecallFirstLayer"
EXTERNAL_RECOGNIZER = "ExternalZoneRule"
SCORE = 0.55  # below every typed recognizer: a typed finding over the same text wins
COMMON_NAME_ZIPF = 4.0     # a name word rarer than this as English is always a name ("Donna", "Kaiser")
VERY_COMMON_ZIPF = 5.0     # one more common than this only beside a name ("Start", "Will", "Church")
SHORT_WORD = 3             # "Na", "RR", "Hgb": abbreviations unless beside a name
SHORT_UNKNOWN_WORD = 4     # "Phos", "Tdap": unknown and short, a name only beside a name
ABBREVIATION = re.compile(r"^[A-Z]{2,}[a-z]{1,2}$")  # "PMHx", "CTh"
CODE = re.compile(r"^(?:[A-Z]\d{2}(?:\.\d+)?|[A-Z]\d{4}|\d{4,5}-\d)$")  # ICD-10, HCPCS, LOINC
ABBREVIATION_MAX = 5
UNITS = (r"mg|mcg|ug|g|kg|lb|lbs|ml|mL|l|L|cc|mmol|mmHg|meq|mEq|iu|IU|units?|u|cm|mm|m|km|hrs?|h|min|mins|s|sec|yrs?|y|d|wk|wks"
         r"|mos?|x|am|pm|st|nd|rd|th|s|bpm|kcal|cal|%")
MEASUREMENT = re.compile(rf"^\d+(?:\.\d+)?(?:{UNITS})$")
NUMBER_CODE = re.compile(r"(?<![\w/.])(?:\d[\d-]{4,}\d|[A-Za-z0-9]*\d[A-Za-z0-9]*)(?![\w/]|\.\d)")
SHORT_DATE = re.compile(r"(?<![\w/.:-])(?:0?[1-9]|1[0-2])/(?:\d{2})(?![\w/:-]|\.\d)")
MONTH = re.compile(r"\b(?:January|February|March|April|June|July|August|September|October|November|December"
                   r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b")
# Dictation and initials lines under a note: "XGT:holmes", "GPP/church" (author initials / typist).
DICTATION = re.compile(r"(?m)^[ \t]*(?P<initials>[A-Z]{2,4})[:/](?P<typist>[a-z]{2,15})[ \t]*$")
DIGIT_RUN = re.compile(r"(?<![\w])\d(?:[ \-.]?\d){8,}(?![\w])")
ENCODED_RUN = re.compile(r"(?<![A-Za-z0-9+/=])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[A-Za-z])[A-Za-z0-9+/]{24,}={0,2}")
NAME_SEPARATOR = re.compile(r"^(?:[ ]|,[ ]?|,)$")
# A name cue right before a word on its line ("PATIENT: ", "Dr. ", "daughter "), or a credential after it.
CUE_BEFORE = re.compile(rf"(?:(?i:\b(?:{LABELS}|{RELATIVES})\b)[ \t]*[:,\-]?|\b{TITLES})[ \t]*$")
CREDENTIAL_AFTER = re.compile(rf"^,?[ ]*(?:{CREDENTIALS})(?![A-Za-z])")
FIELD_LABEL_AFTER = re.compile(r"^(?:[ ]+[a-z]+){0,2}[ ]?:")  # "Cardholder name:", "Temp:"
MEASURE_AFTER = re.compile(r"^[ ]?[=:]?[ ]?\d")  # "Temp 38.2": an English word before a number
TITLES_AND_CREDENTIALS = frozenset(
    "dr mr mrs ms mx miss prof sr jr rn md do np pa lpn cna phd dds pharmd aprn fnp msw lcsw".split())


def recall_findings(text: str, doc: Doc, lexicon: Lexicon) -> list[Finding]:
    """Identifiers by absence from safe vocabulary (non-local zones)."""
    found = [Finding(s, e, kind, SCORE, RECOGNIZER) for s, e, kind in _words(text, doc, lexicon)]
    found += [Finding(m.start(), m.end(), "UNKNOWN_IDENTIFIER", SCORE, RECOGNIZER) for m in NUMBER_CODE.finditer(text)
              if _identifier_like(m.group(0))]
    found += [Finding(m.start(), m.end(), "DATE_TIME", SCORE, RECOGNIZER) for m in SHORT_DATE.finditer(text)
              if not text[m.end():m.end() + 1].isdigit() and not m.group(0).endswith("/10")]
    found += [Finding(m.start(), m.end(), "DATE_TIME", SCORE, RECOGNIZER) for m in MONTH.finditer(text)]
    found += [Finding(*m.span(group), "PERSON", SCORE, RECOGNIZER) for m in DICTATION.finditer(text)
              for group in ("initials", "typist")]
    return found


def external_findings(text: str, decoded: Iterable[tuple[int, int]], typed: list[Finding]) -> list[Finding]:
    """The external-zone rule: long digit runs and encoded runs not already covered by a typed finding."""
    spans = [(m.start(), m.end()) for pattern in (DIGIT_RUN, ENCODED_RUN) for m in pattern.finditer(text)]
    spans += list(decoded)
    return [Finding(start, end, "UNKNOWN_IDENTIFIER", SCORE, EXTERNAL_RECOGNIZER) for start, end in spans
            if not any(f.start <= start and end <= f.end for f in typed)]


def _identifier_like(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    letters = sum(c.isalpha() for c in value)
    if MEASUREMENT.match(value) or CODE.match(value):  # a dose, a medical code
        return False
    if "-" in value:  # "560-40-78-5" is a record number, "104-118" a range
        return value.count("-") >= 2 or digits >= 8
    return digits >= 6 or (letters > 0 and digits >= 3 and len(value) >= 5)


def _words(text: str, doc: Doc, lexicon: Lexicon) -> Iterable[tuple[int, int, str]]:
    tokens = [t for t in doc if t.text.isalpha() or re.fullmatch(r"[A-Za-z]+(?:['-][A-Za-z]+)+", t.text)]
    verdicts = {t.i: _verdict(t, text, lexicon) for t in tokens}
    for token in tokens:  # a common name after a name cue: "PATIENT: ROSE", "Dr. Church", "WILL CHURCH, M.D."
        if verdicts[token.i] == "maybe" and _cued(token, text):
            verdicts[token.i] = "name"
    changed = True
    while changed:  # a common name beside a found name: "FILBERT BRIGHT", "Anna Church"
        names = [i for i, v in verdicts.items() if v == "name"]
        promoted = [t.i for t in tokens if verdicts[t.i] == "maybe" and any(_beside(t, doc, j) for j in names)]
        verdicts.update(dict.fromkeys(promoted, "name"))
        changed = bool(promoted)
    for token in tokens:
        if verdicts[token.i] == "name":
            yield token.idx, token.idx + len(token.text), "PERSON"


def _verdict(token: Token, text: str, lexicon: Lexicon) -> str:
    """"name" (an identifier), "maybe" (a name only beside a name) or "safe"."""
    word, lower = token.text, token.text.lower()
    if lower in lexicon.clinical_words or _vocabulary(token, text, lexicon):
        return "safe"
    is_name = lexicon.is_name(lower)
    if not word[0].isupper():
        return _lower_case(token, lexicon)
    if len(word) <= SHORT_WORD or (word.isupper() and len(word) <= ABBREVIATION_MAX) or ABBREVIATION.match(word):
        return "maybe" if is_name or lower not in lexicon.safe_words else "safe"  # "RR", "Hgb", "IBAN", "PMHx"
    if word.isupper() and lower in lexicon.safe_words:
        return "maybe" if is_name else "safe"  # headings in capitals: "TRIAGE NOTE"; "FILBERT BRIGHT" by its neighbour
    initial = _sentence_initial(text, token.idx)
    if lower not in lexicon.safe_words and token.lemma_.lower() not in lexicon.safe_words:
        if is_name or not (initial or token.ent_type_ == "ORG" or len(word) <= SHORT_UNKNOWN_WORD):
            return "name"
        return "maybe"  # "Prescriber requests ...", "Insurance: Aetna", "Phos": a name only beside a name
    if not is_name:
        return "safe"
    frequency = lexicon.frequency(lower)
    if frequency < COMMON_NAME_ZIPF:
        return "name"
    if frequency < VERY_COMMON_ZIPF and token.pos_ == "PROPN" and not initial and not word.isupper():
        return "name"
    return "maybe"


def _lower_case(token: Token, lexicon: Lexicon) -> str:
    """A lower-case word is a name when it is a first name that is not English, or one that spaCy reads
    as a name ("pt harold"); a lower-case surname only beside such a name ("agnieszka kowalczyk")."""
    lower = token.text
    if not lexicon.is_name(lower):
        return "safe"
    if lower in lexicon.first_names and (lower not in lexicon.safe_words or token.ent_type_ == "PERSON"):
        return "name"
    return "maybe" if lower not in lexicon.safe_words or token.ent_type_ == "PERSON" else "safe"


def _vocabulary(token: Token, text: str, lexicon: Lexicon) -> bool:
    """Field labels ("Cardholder name:", "Temp:"), titles and credentials, roles and organisation words,
    eponyms and drugs before a clinical term or a dose."""
    end = token.idx + len(token.text)
    word = token.text.title()
    after = text[end:end + 40]
    return (FIELD_LABEL_AFTER.match(after) is not None or token.text.lower() in TITLES_AND_CREDENTIALS
            or EPONYM_AFTER.match(after) is not None or DOSE_AFTER.match(after) is not None  # "Babinski sign"
            or (MEASURE_AFTER.match(after) is not None and token.text.lower() in lexicon.safe_words)
            or word in NOT_NAME_WORDS or word in ORG_WORDS or NOT_NAME_PHRASE.fullmatch(token.text) is not None)


def _cued(token: Token, text: str) -> bool:
    line_start = text.rfind("\n", 0, token.idx) + 1
    end = token.idx + len(token.text)
    return (CUE_BEFORE.search(text[max(line_start, token.idx - 40):token.idx]) is not None
            or CREDENTIAL_AFTER.match(text[end:end + 12]) is not None)


def _beside(token: Token, doc: Doc, other: int) -> bool:
    """Next to token `other` on the same line, apart only by a space or a comma ("Kaiser, Donna")."""
    first, second = doc[min(token.i, other)], doc[max(token.i, other)]
    return NAME_SEPARATOR.match(doc.text[first.idx + len(first.text):second.idx]) is not None or (
        second.i - first.i == 2 and doc[first.i + 1].text == "," and second.idx - first.idx - len(first.text) <= 2)


def _line_initial(text: str, start: int) -> bool:
    return text[text.rfind("\n", 0, start) + 1:start].strip() == ""


def _sentence_initial(text: str, start: int) -> bool:
    """At the start of a line or after a sentence's end (spaCy's parser, which marks sentences, is off)."""
    before = text[max(0, start - 8):start].rstrip(" \t")
    return _line_initial(text, start) or before.endswith((".", "!", "?", ":", ";"))
