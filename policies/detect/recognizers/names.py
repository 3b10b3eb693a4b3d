"""Names (PERSON) and places (LOCATION): spaCy NER, filtered, plus cues spaCy's small model misses.

- NER PERSON/LOCATION spans are kept unless they look clinical: a drug before a dose ("Toprol XL 20
  mg"), an eponym ("Parkinson's disease", "Glasgow Coma Scale"), digits, or lower-case words.
- Cues: a title ("Dr. Ada Lee"), a label ("Patient: Lee, Ada"), a relative ("daughter Ada Lee"), a
  credential ("Ada Lee, MD"), a clinical opening ("Ada Lee is a 67-year-old", "Ada Lee (DOB ...").
  Label, relative and credential cues also need spaCy to tag the first word a proper noun.
- Every word of a found name is then found again elsewhere in the same text ("Mr. Lee ... Lee").
"""
from __future__ import annotations

import re
from typing import Iterable

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.tokens import Doc

from .base import RuleRecognizer

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
          r"|dear|hi|hello|hey|sincerely|regards|thanks|thank\s+you|love|best|cheers|yours\s+(?:truly|sincerely)|I")
RELATIVES = (r"mother|father|mom|dad|spouse|wife|husband|son|daughter|sister|brother|granddaughter|grandson|grandmother"
             r"|grandfather|niece|nephew|partner|friend|aunt|uncle|cousin|fianc[ée]e?|neighbou?r")
CREDENTIALS = (r"MD|M\.D\.|DO|D\.O\.|RN|NP|PA-C|PA|PhD|DDS|DMD|PharmD|LPN|CNA|MSW|LCSW|APRN|FNP|CRNA|DPM|MBBS|FRCP"
               r"|MRCP|FRCS|FACS|FACP|BSN|MSN|DNP")
EPONYM_FOLLOWERS = re.compile(
    r"^(?:'s)?\s+(?:disease|syndrome|sign|score|scale|criteria|classification|lymphoma|test|maneuver|manoeuvre|reflex"
    r"|palsy|triad|coma|phenomenon|tumou?r|procedure|operation|ulcer|fracture|law|rule|index|node|method)\b",
    re.I,
)
DOSE_AFTER = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:mg|mcg|g|ml|units?|tabs?|puffs?|%)\b|XL\b|ER\b|SR\b|XR\b)", re.I)
NOT_NAME_WORDS = frozenset(
    "Patient Doctor Nurse Hospital Clinic Street Road Avenue Name Date Birth Address Phone Email Plan Note Notes "
    "History Physical Summary Discharge Admission Medical Record Member Account Insurance Daughter Son Wife Husband "
    "Mother Father Dear Thanks Regards Sincerely Best Love Hi Hello The And For With From Dr Mr Mrs Ms Miss Prof".split()
)

_LINE_LABEL = re.compile(rf"^[ \t]*(?:From|To|Cc|Attn)[ \t]*:[ \t]*(?P<value>{NAME})", re.M)
_CUES_ANY_WORD = (  # a title makes the following capitalised words a name
    re.compile(rf"\b{TITLES}[ \t]+(?P<value>{NAME})"),
)
_CUES_PROPER_NOUN = (  # these need spaCy to agree the first word is a proper noun
    re.compile(rf"(?i:\b(?:{LABELS}))\b[ \t]*[:,\-]?[ \t]*(?:\n[ \t]*)?(?P<value>{NAME})"),
    re.compile(rf"(?i:\b(?:{RELATIVES}))\b[ \t]*[:,]?[ \t]*(?:\([^)\n]{{0,20}}\)[ \t]*)?(?P<value>{NAME})"),
    re.compile(rf"(?P<value>{NAME}),?[ ](?:{CREDENTIALS})\b"),
    re.compile(rf"(?P<value>{NAME})[ ]+(?:\([^)\n]{{0,40}}\)[ ]+)?(?:is|was)[ ]+an?[ ]+\d{{1,3}}[- ]?(?:year|yr|y/?o|month)"),
    re.compile(rf"(?P<value>{NAME})[ ]*[,(][ ]*(?:DOB|D\.O\.B|MRN|born|age[d]?\b|\d{{1,3}}[ ]?(?:y/?o|yo|years?)\b)"),
    _LINE_LABEL,
)


def _is_proper_noun(doc: Doc, start: int) -> bool:
    span = doc.char_span(start, start + 1, alignment_mode="expand")
    return bool(span) and span[0].pos_ == "PROPN"


def _clinical_context(text: str, start: int, end: int) -> bool:
    """Eponyms and drug names that spaCy tags as names or places."""
    after = text[end:end + 40]
    before = text[max(0, start - 12):start].lower()
    return bool(EPONYM_FOLLOWERS.match(after) or DOSE_AFTER.match(after)
                or re.search(r"\b(?:start|take|takes|given|continue|hold|increase|decrease|on)\s+$", before))


def _strip_title(text: str, start: int, end: int) -> tuple[int, int]:
    title = re.match(rf"{TITLES}\s+", text[start:end])
    if title:
        start += title.end()
    while end > start and text[end - 1] in ".,;:'’ ":
        end -= 1
    if text[start:end].endswith("'s"):
        end -= 2
    return start, end


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
        for start, end, entity, score in self._ner_spans(text, nlp_artifacts.entities):
            found[(start, end)] = (entity, score)
        for start, end, score in self._cued_names(text, doc):
            if found.get((start, end), ("", 0.0))[1] < score:
                found[(start, end)] = ("PERSON", score)
        names = [span for span, (entity, _) in found.items() if entity == "PERSON"]
        for start, end in self._repeated_name_words(text, names):
            found.setdefault((start, end), ("PERSON", 0.6))
        return [self.result(entity, start, end, score) for (start, end), (entity, score) in found.items()]

    @staticmethod
    def _ner_spans(text: str, ents: Iterable) -> Iterable[tuple[int, int, str, float]]:
        for ent in ents:
            if ent.label_ not in ("PERSON", "LOCATION"):
                continue
            start, end = _strip_title(text, ent.start_char, ent.end_char)
            value = text[start:end]
            if (not value or any(c.isdigit() for c in value) or not value[0].isupper()
                    or _clinical_context(text, start, end)):
                continue
            if ent.label_ == "PERSON" and (len(value) <= 5 and value.isupper()):
                continue  # abbreviations: BID, COPD, HPI
            yield start, end, ent.label_, 0.8 if ent.label_ == "PERSON" else 0.7

    @staticmethod
    def _cued_names(text: str, doc: Doc) -> Iterable[tuple[int, int, float]]:
        for pattern in _CUES_ANY_WORD:
            for match in pattern.finditer(text):
                yield match.start("value"), match.end("value"), 0.9
        for pattern in _CUES_PROPER_NOUN:
            for match in pattern.finditer(text):
                start, end = match.span("value")
                first_word = text[start:end].split(",")[0].split()[0]
                if first_word in NOT_NAME_WORDS or not _is_proper_noun(doc, start) or _clinical_context(text, start, end):
                    continue
                yield start, end, 0.85

    @staticmethod
    def _repeated_name_words(text: str, names: list[tuple[int, int]]) -> Iterable[tuple[int, int]]:
        words = {w for start, end in names for w in re.findall(WORD, text[start:end])
                 if len(w) >= 3 and w not in NOT_NAME_WORDS}
        if not words:
            return
        alternatives = "|".join(sorted({re.escape(w) for w in words} | {re.escape(w.upper()) for w in words}, key=len, reverse=True))
        for match in re.finditer(rf"(?<![\w'-])(?:{alternatives})(?![\w-])", text):
            yield match.start(), match.end()
