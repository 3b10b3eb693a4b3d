"""Names (PERSON) and places (LOCATION): spaCy NER, filtered, plus cues spaCy's small model misses.

- NER PERSON/LOCATION spans are kept unless they look clinical: a drug before a dose ("Toprol XL 20
  mg"), an eponym ("Parkinson's disease", "Glasgow Coma Scale"), digits, or lower-case words.
- Cues: a title ("Dr. Ada Lee"), a label ("Patient: Lee, Ada"), a relative ("daughter Ada Lee"), a
  credential ("Ada Lee, MD"), a clinical opening ("Ada Lee is a 67-year-old", "Ada Lee (DOB ...").
  Label, relative and credential cues also need spaCy to tag the first word a proper noun (or, for a
  name of two or more words, at least not a verb or function word).
- Every word of a found name is then found again elsewhere in the same text ("Mr. Lee ... Lee").
"""
from __future__ import annotations

import re
from typing import Iterable

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.tokens import Doc

from .base import RuleRecognizer
from .geo import US_STATE_CODES

WORD = r"(?:Mc|Mac|O'|D')?[A-ZÀ-Þ][a-zß-ÿ]+(?:[-'][A-ZÀ-Þ]?[a-zß-ÿ]+)*"
PARTICLE = r"(?:van|von|der|den|de|del|della|da|di|du|la|le|bin|ibn|al|el|ten|ter)"
NAME = (rf"(?:(?:{WORD}|[A-Z]{{2,}}(?:[-'][A-Z]+)*),[ ]{WORD}(?:[ ][A-Z]\.)?"
        rf"|{WORD}(?:[ ](?:[A-Z]\.[ ])?(?:{PARTICLE}[ ])*{WORD}){{0,3}})")
TITLES = r"(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Sr|Sra|Herr|Frau|Mme|Mlle)\.?"
LABELS = (r"patient(?:'s)?(?:\s+name)?|pt|name|full\s+name|client|guarantor|cardholder(?:\s+name)?|insured(?:'s\s+name)?"
          r"|subscriber|attending(?:\s+physician)?|physician|provider|surgeon|PCP|referring(?:\s+(?:physician|provider))?"
          r"|ordering\s+(?:provider|customer)|prescriber|dictated\s+by|(?:electronically\s+)?signed\s+by|witness|seen\s+by"
          r"|emergency\s+contact|next\s+of\s+kin|NOK|guardian|parent/guardian|caregiver|applicant|employee|beneficiary"
          r"|seller|buyer|reference|user|customer|tenant|owner|manager|adjuster|injured\s+worker|student|operator"
          r"|accompanied\s+by|educator|therapist|pharmacist|social\s+worker|case\s+manager|coordinator|interpreter"
          r"|its|it's|this\s+is|i\s+am|i'm|my\s+name\s+is|dear|hi|hello|hey|sincerely|regards|thanks|thank\s+you"
          r"|love|best|cheers|yours\s+(?:truly|sincerely)|I")
RELATIVES = (r"mother|father|mom|dad|spouse|wife|husband|son|daughter|sister|brother|granddaughter|grandson|grandmother"
             r"|grandfather|niece|nephew|partner|friend|aunt|uncle|cousin|fianc[ée]e?|neighbou?r")
CREDENTIALS = (r"MD|M\.D\.|DO|D\.O\.|RN|NP|PA-C|PA|PhD|DDS|DMD|PharmD|LPN|CNA|MSW|LCSW|APRN|FNP|CRNA|DPM|MBBS|FRCP"
               r"|MRCP|FRCS|FACS|FACP|BSN|MSN|DNP")
# Words that make a capitalised phrase a clinical term, a role or a heading rather than a name.
CLINICAL_TERMS = (r"disease|syndrome|sign|score|scale|criteria|classification|lymphoma|test|maneuver|manoeuvre|reflex"
                  r"|palsy|triad|coma|phenomenon|tumou?r|procedure|operation|ulcer|fracture|index|node|method")
ROLE_TERMS = (r"\w+ologist|\w+ician|\w+iatrist|consultant|manager|director|officer|coordinator|specialist|therapist"
              r"|assistant|team|department|clinic|hospital|centre|center|unit|ward|office|services?|pharmacy")
NOT_NAME_PHRASE = re.compile(rf"(?i)\b(?:{CLINICAL_TERMS}|{ROLE_TERMS})\b")
EPONYM_AFTER = re.compile(rf"(?i)^(?:'s)?\s+(?:{CLINICAL_TERMS})\b")
DOSE_AFTER = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:mg|mcg|g|ml|units?|tabs?|puffs?|%)\b|\d+\.\d+|XL\b|ER\b|SR\b|XR\b)", re.I)
DRUG_VERB_BEFORE = re.compile(
    r"(?i)\b(?:start|started|take|takes|given|continue|hold|increase|decrease|restart|resume|stop|discontinue|titrate"
    r"|add|on)\s+$"
)
NOT_NAME_WORDS = frozenset(
    "Patient Doctor Nurse Hospital Clinic Street Road Avenue Name Date Birth Address Phone Email Plan Note Notes "
    "History Physical Summary Discharge Admission Medical Record Member Account Insurance Daughter Son Wife Husband "
    "Mother Father Dear Thanks Regards Sincerely Best Love Hi Hello The And For With From Dr Mr Mrs Ms Miss Prof".split()
)
NON_NAME_POS = frozenset({"VERB", "AUX", "ADP", "DET", "PRON", "SCONJ", "CCONJ", "NUM", "PUNCT", "ADV", "PART", "SYM"})
PLACE_ABBREVIATIONS = frozenset({"UK", "USA", "US", "NYC", "UAE", "EU"} | set(US_STATE_CODES))
CREDENTIAL_WORDS = frozenset({"MD", "DO", "PA", "RN", "NP"})
PLACE_CUES = (r"city|town|hometown|home|residence|lives\s+in|living\s+in|moved\s+to|moving\s+to|resident\s+(?:in|of)"
              r"|address\s+in|born\s+in|based\s+in|located\s+in|relocated\s+to|near|trip\s+to|visiting|office\s+in")
_PLACE = re.compile(rf"(?i:\b(?:{PLACE_CUES}))\b[ \t]*:?[ \t]*(?P<value>{WORD}(?:[ ]{WORD}){{0,2}})")

_LINE_LABEL = re.compile(rf"^[ \t]*(?:From|To|Cc|Attn)[ \t]*:[ \t]*(?P<value>{NAME})", re.M)
CLOSINGS = r"love|regards|sincerely|thanks|thank\s+you|best|cheers|yours(?:\s+(?:truly|sincerely))?|respectfully"
_CUES_ANY_WORD = (  # a title, or a name alone on the line under a letter's closing
    re.compile(rf"\b{TITLES}[ \t]+(?P<value>{NAME})"),
    re.compile(rf"^[ \t]*(?i:(?:[a-z]+[ \t]+)?(?:{CLOSINGS}))[ \t]*,[ \t]*\n[ \t]*(?P<value>{NAME})[ \t]*$", re.M),
)
_CUES_PROPER_NOUN = (  # these need spaCy to agree the first word is a proper noun
    re.compile(rf"(?i:\b(?:{LABELS}))\b[ \t]*[:,\-]?[ \t]*(?:\n[ \t]*)?(?P<value>{NAME})"),
    re.compile(rf"(?i:\b(?:{RELATIVES}))\b[ \t]*[:,]?[ \t]*(?:\([^)\n]{{0,20}}\)[ \t]*)?(?P<value>{NAME})"),
    re.compile(rf"(?P<value>{NAME}),?[ ](?:{CREDENTIALS})\b"),
    re.compile(rf"(?P<value>{NAME})[ ]+(?:\([^)\n]{{0,40}}\)[ ]+)?(?:is|was)[ ]+an?[ ]+\d{{1,3}}[- ]?(?:year|yr|y/?o|month)"),
    re.compile(rf"(?P<value>{NAME})[ ]*[,(][ ]*(?:DOB|D\.O\.B|MRN|born|age[d]?\b|\d{{1,3}}[ ]?(?:y/?o|yo|years?)\b)"),
    _LINE_LABEL,
)


def _clinical_context(text: str, start: int, end: int) -> bool:
    """Eponyms and drug names that spaCy tags as names or places."""
    after = text[end:end + 40]
    return bool(NOT_NAME_PHRASE.search(text[start:end]) or EPONYM_AFTER.match(after) or DOSE_AFTER.match(after)
                or DRUG_VERB_BEFORE.search(text[max(0, start - 16):start]))


def _trim(doc: Doc, text: str, start: int, end: int) -> tuple[int, int]:
    """Drop titles, verbs, articles and punctuation at the edges of an NER span."""
    title = re.match(rf"{TITLES}\s+", text[start:end])
    if title:
        start += title.end()
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None:
        return start, start
    tokens = [t for t in span]
    while tokens and (tokens[0].pos_ in NON_NAME_POS or not tokens[0].text[:1].isalpha()):
        tokens.pop(0)
    while tokens and (tokens[-1].pos_ in NON_NAME_POS or tokens[-1].text in ("'s", "’s") or not tokens[-1].text[-1:].isalpha()):
        tokens.pop()
    if not tokens:
        return start, start
    return max(start, tokens[0].idx), min(end, tokens[-1].idx + len(tokens[-1].text))


def _line_initial(text: str, start: int) -> bool:
    return text[text.rfind("\n", 0, start) + 1:start].strip() == ""


class NameRecognizer(RuleRecognizer):
    """PERSON and LOCATION from the one spaCy pass presidio already made (no second NLP run)."""

    def __init__(self) -> None:
        super().__init__("PERSON", [], "NameRecognizer")
        self.supported_entities = ["PERSON", "LOCATION"]

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        if nlp_artifacts is None:
            return []
        doc: Doc = nlp_artifacts.tokens
        found: dict[tuple[int, int], tuple[str, float]] = {}
        for start, end, entity, score in self._ner_spans(text, doc, nlp_artifacts.entities):
            found[(start, end)] = (entity, score)
        for start, end, score in self._cued_names(text, doc):
            if found.get((start, end), ("", 0.0))[1] < score:
                found[(start, end)] = ("PERSON", score)
        names = [span for span, (entity, _) in found.items() if entity == "PERSON"]
        for start, end in self._repeated_name_words(text, names):
            found.setdefault((start, end), ("PERSON", 0.6))
        for start, end in self._cued_places(text, doc):
            found.setdefault((start, end), ("LOCATION", 0.7))
        ends_of_names = {end for (start, end), (entity, _) in found.items() if entity == "PERSON"}
        return [
            self.result(entity, start, end, score) for (start, end), (entity, score) in found.items()
            if not (entity == "LOCATION" and text[start:end] in CREDENTIAL_WORDS and _follows_name(text, start, ends_of_names))
        ]

    @staticmethod
    def _ner_spans(text: str, doc: Doc, ents: Iterable) -> Iterable[tuple[int, int, str, float]]:
        for ent in ents:
            if ent.label_ not in ("PERSON", "LOCATION"):
                continue
            start, end = _trim(doc, text, ent.start_char, ent.end_char)
            value = text[start:end]
            if (not value or any(c.isdigit() for c in value) or not value[0].isupper()
                    or _clinical_context(text, start, end)):
                continue
            if value.isupper() and len(value) <= 5 and value not in PLACE_ABBREVIATIONS:
                continue  # abbreviations: BID, COPD, HPI, RA (room air), IV
            if ent.label_ == "PERSON" and " " not in value and _line_initial(text, start):
                continue  # headings and field labels: "PRESCRIPTION", "Vehicle: ..."
            yield start, end, ent.label_, 0.8 if ent.label_ == "PERSON" else 0.7

    @staticmethod
    def _cued_names(text: str, doc: Doc) -> Iterable[tuple[int, int, float]]:
        for pattern in _CUES_ANY_WORD:
            for match in pattern.finditer(text):
                yield match.start("value"), match.end("value"), 0.9
        for pattern in _CUES_PROPER_NOUN:
            for match in pattern.finditer(text):
                start, end = match.span("value")
                value = text[start:end]
                if value.split(",")[0].split()[0] in NOT_NAME_WORDS or _clinical_context(text, start, end):
                    continue
                pos = _pos_at(doc, start)
                if pos == "PROPN" or (pos not in NON_NAME_POS and len(value.split()) > 1):
                    yield start, end, 0.85

    @staticmethod
    def _cued_places(text: str, doc: Doc) -> Iterable[tuple[int, int]]:
        for match in _PLACE.finditer(text):
            start, end = match.span("value")
            if _pos_at(doc, start) == "PROPN" and text[start:end] not in NOT_NAME_WORDS:
                yield start, end

    @staticmethod
    def _repeated_name_words(text: str, names: list[tuple[int, int]]) -> Iterable[tuple[int, int]]:
        words = {w for start, end in names for w in re.findall(WORD, text[start:end])
                 if len(w) >= 3 and w not in NOT_NAME_WORDS}
        if not words:
            return
        alternatives = "|".join(sorted({re.escape(w) for w in words} | {re.escape(w.upper()) for w in words}, key=len, reverse=True))
        for match in re.finditer(rf"(?<![\w'-])(?:{alternatives})(?![\w-])", text):
            yield match.start(), match.end()


def _pos_at(doc: Doc, start: int) -> str:
    span = doc.char_span(start, start + 1, alignment_mode="expand")
    return span[0].pos_ if span else ""


def _follows_name(text: str, start: int, ends_of_names: set[int]) -> bool:
    """True for "Jane Roe, MD": the credential right after a name is not a state."""
    gap = re.search(r",?\s*$", text[:start])
    return gap is not None and gap.start() in ends_of_names
