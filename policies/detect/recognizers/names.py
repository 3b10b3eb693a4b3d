"""Names (PERSON) and places (LOCATION): spaCy NER, filtered, plus cues spaCy's small model misses.

- NER PERSON/LOCATION spans are kept unless they look clinical: a drug before a dose ("Toprol XL 20
  mg"), an eponym ("Parkinson's disease", "Glasgow Coma Scale"), digits, or lower-case words.
- Cues: a title ("Dr. Ada Lee"), a label ("Patient: Lee, Ada"), a relative ("daughter Ada Lee"), a
  credential ("Ada Lee, MD"), a clinical opening ("Ada Lee is a 67-year-old", "Ada Lee (DOB ...").
  Label, relative and credential cues also need spaCy to tag the first word a proper noun (or, for a
  name of two or more words, at least not a verb or function word).
- Forms and hurried notes: names in capitals after a label, before a credential or leading a line as
  "LEE, ADA M"; an initial ("A. Lee"); lower case after a strong cue ("my name is ada lee") or, when
  spaCy reads a person/proper noun, after a weak one ("pt ada lee,"); two or three proper nouns after
  "for/from/by/...:" with no organisation, place or clinical word ("card declined for Ada Lee").
- Every word of a found name is then found again elsewhere in the same text ("Mr. Lee ... Lee").
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.tokens import Doc, Span

from .base import RuleRecognizer
from .geo import US_STATE_CODES

WORD = r"(?:Mc|Mac|O'|D')?[A-ZÀ-Þ][a-zß-ÿ]+(?:[-'][A-ZÀ-Þ]?[a-zß-ÿ]+)*"
# Lower-case name particles ("Ana dos Santos", "Ludwig van Beethoven"), read between a name's words.
PARTICLES = frozenset("van von der den de del della da di du dos das la le ni nic mac bin binti ibn al el ter ten".split())
PARTICLE = rf"(?:{'|'.join(sorted(PARTICLES, key=lambda p: (-len(p), p)))}|St\.?)"
NAME = (rf"(?:(?:{WORD}|[A-Z]{{2,}}(?:[-'][A-Z]+)*),[ ]{WORD}(?:[ ][A-Z]\.)?"
        rf"|(?:[A-Z]\.[ ])?{WORD}(?:[ ](?:[A-Z]\.[ ])?(?:{PARTICLE}[ ])*{WORD}){{0,3}})")
# A name in capitals, as forms print them: "DELACROIX, ESPERANZA M", "ESPERANZA DELACROIX".
CAPS_WORD = r"(?:MC|MAC|O'|D')?[A-Z]{2,}(?:[-'][A-Z]{2,})*"
CAPS_NAME = (rf"(?:{CAPS_WORD},[ ]{CAPS_WORD}(?:[ ][A-Z]\b\.?)?"
             rf"|{CAPS_WORD}(?:[ ](?:[A-Z]\.?[ ])?(?:ST\.?[ ])?{CAPS_WORD}){{1,2}})(?![A-Za-z])")
# A name in lower case, as chat and hurried notes write it: "pt joaquin navarro", "hey ayesha".
LOWER_NAME = r"[a-z]{2,}(?:'[a-z]+)?(?:[ ](?:st\.[ ])?[a-z]{2,}(?:'[a-z]+)?)?"
TITLES = r"(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Sr|Sra|Herr|Frau|Mme|Mlle)\.?"
LABELS = (r"patient(?:'s)?(?:\s+name)?|pt|name|(?:employee|member|preferred|legal|print)\s+name|member|requester|holder"
          r"|full\s+name|client|guarantor|cardholder(?:\s+name)?|insured(?:'s\s+name)?"
          r"|subscriber|attending(?:\s+physician)?|physician|provider|surgeon|PCP|referring(?:\s+(?:physician|provider))?"
          r"|ordering\s+(?:provider|customer)|prescriber|dictated\s+by|(?:electronically\s+)?signed(?:\s+by)?|witness|seen\s+by"
          r"|emergency\s+contact|next\s+of\s+kin|NOK|guardian|parent/guardian|caregiver|applicant|employee|beneficiary"
          r"|seller|buyer|reference|user|customer|tenant|owner|manager|adjuster|injured\s+worker|student|operator"
          r"|accompanied\s+by|educator|therapist|pharmacist|social\s+worker|case\s+manager|coordinator|interpreter"
          r"|it's|this\s+is|i\s+am|i'm|my\s+name\s+is|dear|hi|hello|hey|sincerely|regards|thanks|thank\s+you"
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
    "Mother Father Dear Thanks Regards Sincerely Best Love Hi Hello The And For With From Dr Mr Mrs Ms Miss Prof "
    "Rec No Med Acct Number Date Dob Mrn Ssn Sex Age Id Home Emergency Contact Social Security Employee Preferred "
    "Direct Deposit Report Form Request Prior Authorization Diagnosis Medication Triage Note Progress Chief Complaint "
    "Assessment Unknown None Male Female Signed Electronically New Hire Onboarding Primary Secondary Card Customer "
    "Beneficiary Labs Plt Hct Hgb Rm Room Bed Suite Ref Reference Vehicle Policy Claim Claimant Caller Agent "
    "Dutch Spanish German French Italian Polish British English Irish Scottish Welsh American Canadian Mexican".split()
)
# Words of organisations and services: a capitalised phrase holding one is not a person.
ORG_WORDS = frozenset(
    "Health Healthcare Medical Medicine Hospital Clinic Center Centre Care Home Homes Support Service Services Insurance "
    "Bank Group Inc LLC Ltd Corp Company Co University College School Institute Foundation Association Society "
    "Department Dept Team Office Pharmacy Labs Laboratory Laboratories Systems Solutions Logistics Partners Associates "
    "Network Medicare Medicaid Advantage Cross Shield Blue General Regional Memorial Infirmary Royal Summit Conference "
    "Protection Data Portal County City State National International Global Trust Fund Plan Express Hotel Motors "
    "Energy Mutual Federal Financial Capital Credit Union Church Court Imaging Radiology Dialysis Hospice Rehab "
    "Rehabilitation Surgery Surgical Oncology Cardiology Pediatrics Urgent Emergency Life Benefits Security Bureau".split()
)
# Cues for a name written in lower case; after a weak one (or a relative) spaCy must also read a name.
STRONG_LOWER_CUES = r"my\s+name\s+is|name\s*:|requester\s*:|patient\s*:|pt\s*:"
WEAK_LOWER_CUES = r"pt|patient|i\s+am|i'm|it'?s|this\s+is|hey|hi|hello|dear"
NON_NAME_POS = frozenset({"VERB", "AUX", "ADP", "DET", "PRON", "SCONJ", "CCONJ", "NUM", "PUNCT", "ADV", "PART", "SYM"})
PLACE_ABBREVIATIONS = frozenset({"UK", "USA", "US", "NYC", "UAE", "EU"} | set(US_STATE_CODES))
CREDENTIAL_WORDS = frozenset({"MD", "DO", "PA", "RN", "NP"})
PLACE_CUES = (r"city|town|hometown|home|residence|address|visitor\s+from|moving\s+from|lives\s+in|living\s+in"
              r"|moved\s+to|moving\s+to|resident\s+(?:in|of)"
              r"|address\s+in|born\s+in|based\s+in|located\s+in|relocated\s+to|near|trip\s+to|visiting|office\s+in")
_PLACE = re.compile(rf"(?i:\b(?:{PLACE_CUES}))\b[ \t]*:?[ \t]*(?P<value>{WORD}(?:[ ]{WORD}){{0,2}})")

_LINE_LABEL = re.compile(rf"^[ \t]*(?:From|To|Cc|Attn)[ \t]*:[ \t]*(?P<value>{NAME})", re.M)
CLOSINGS = r"love|regards|sincerely|thanks|thank\s+you|best|cheers|yours(?:\s+(?:truly|sincerely))?|respectfully"
_CUES_ANY_WORD = (  # a title, or a name alone on the line under a letter's closing
    re.compile(rf"\b{TITLES}[ \t]+(?P<value>{NAME})"),
    re.compile(rf"^[ \t]*(?i:(?:[a-z]+[ \t]+)?(?:{CLOSINGS}))[ \t]*,[ \t]*\n[ \t]*(?P<value>{NAME})[ \t]*$", re.M),
)
_CUES_CAPS = (  # a name in capitals after a label, before a credential, or alone leading a line as "LAST, FIRST"
    re.compile(rf"(?i:\b(?:{LABELS}))\b[ \t]*[:,\-]?[ \t]*(?P<value>{CAPS_NAME})"),
    re.compile(rf"(?i:\b(?:{RELATIVES}))\b[ \t]*[:,]?[ \t]*(?P<value>{CAPS_NAME})"),
    re.compile(rf"(?P<value>{CAPS_NAME}),?[ ](?:{CREDENTIALS})\b"),
    re.compile(rf"^[ \t]*(?P<value>{CAPS_WORD},[ ]{CAPS_WORD}(?:[ ][A-Z]\b\.?)?)(?=[ \t]{{2,}}|[ \t]*$|[ \t]*[(,])", re.M),
    re.compile(rf"\b(?:for|from|by|of)[ \t]+(?P<value>{CAPS_WORD},[ ]{CAPS_WORD}(?:[ ][A-Z]\b\.?)?)(?![A-Za-z])"),
    re.compile(rf"\b(?:for|from|by)[ \t]+(?P<value>{CAPS_WORD}[ ]{CAPS_WORD})(?![A-Za-z])"),
)
# "for/from/by ... First Last": two or three capitalised words that spaCy reads as proper nouns.
_AFTER_PREPOSITION = re.compile(
    rf"(?:\b(?:for|from|by|with|to|and|per|re|about|between|read)|:)[ \t]+[\"“(]?"
    rf"(?P<value>{WORD}(?:[ ](?:[A-Z]\.[ ])?(?:{PARTICLE}[ ])*{WORD}){{1,2}})(?![\w-])"
)
_LOWER_CUED = re.compile(  # the name must end the phrase: "pt denies chest pain" reads on, a name does not
    rf"(?i:\b(?:(?P<strong>{STRONG_LOWER_CUES})|{WEAK_LOWER_CUES}|{RELATIVES}))(?:[ \t]*[:,])?[ \t]+(?P<value>{LOWER_NAME})\b"
    rf"(?![ \t]+(?!(?:its|it's|here|and|says|said|called|at|in|on)\b)[a-z])"
)
_CUES_PROPER_NOUN = (  # these need spaCy to agree the first word is a proper noun
    re.compile(rf"(?i:\b(?:{LABELS}))\b[ \t]*[:,\-]?[ \t]*(?:\n[ \t]*)?(?P<value>{NAME})"),
    re.compile(rf"(?i:\b(?:{RELATIVES}))\b[ \t]*[:,]?[ \t]*(?:\([^)\n]{{0,20}}\)[ \t]*|\()?(?P<value>{NAME})"),
    re.compile(rf"(?P<value>{NAME}),[ ]\d{{1,6}}[ ][A-Z]"),  # a name before its street address
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
            inside = [span for span in found if start <= span[0] and span[1] <= end and span != (start, end)]
            score = max([score, *(found.pop(span)[1] for span in inside)])  # "Leyla Mukherjee" over NER "Mukherjee"
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
    def _ner_spans(text: str, doc: Doc, ents: Iterable[Span]) -> Iterable[tuple[int, int, str, float]]:
        for ent in ents:
            if ent.label_ not in ("PERSON", "LOCATION"):
                continue
            start, end = _trim(doc, text, ent.start_char, ent.end_char)
            value = text[start:end]
            if (not value or any(c.isdigit() for c in value) or not value[0].isupper()
                    or _clinical_context(text, start, end)):
                continue
            if any(word.title() in NOT_NAME_WORDS for word in re.findall(r"[A-Za-z]+", value)):
                continue  # field labels: "Med Rec No", "Member DOB"
            if " " not in value and re.match(r"[ \t]*\d", text[end:end + 3]):
                continue  # "Bay 12", "Rm 339": a place in the building, not a town
            if value in US_STATE_CODES and not re.search(r"[A-Za-z],[ \t]*$", text[max(0, start - 30):start]):
                continue  # a state code only after "City, ": "4L NC" is a nasal cannula
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
        yield from _proper_nouns_after_cues(text, doc)
        for pattern in _CUES_CAPS:
            for match in pattern.finditer(text):
                start, end = match.span("value")
                if _plausible_caps_name(text[start:end]):
                    yield start, end, 0.85
        for match in _AFTER_PREPOSITION.finditer(text):
            start, end = match.span("value")
            if _proper_noun_phrase(doc, text, start, end):
                yield start, end, 0.7
        for match in _LOWER_CUED.finditer(text):
            start, end = match.span("value")
            if _lower_case_name(doc, start, end, strong_cue=match.group("strong") is not None):
                yield start, end, 0.75

    @staticmethod
    def _cued_places(text: str, doc: Doc) -> Iterable[tuple[int, int]]:
        for match in _PLACE.finditer(text):
            start, end = match.span("value")
            if (_pos_at(doc, start) == "PROPN" and text[start:end] not in NOT_NAME_WORDS
                    and not re.match(r"[ \t]*\d", text[end:end + 3])):  # "moved to Bay 12"
                yield start, end

    @staticmethod
    def _repeated_name_words(text: str, names: list[tuple[int, int]]) -> Iterable[tuple[int, int]]:
        words = {w for start, end in names for w in re.findall(WORD, text[start:end])
                 if len(w) >= 3 and w not in NOT_NAME_WORDS}
        if not words:
            return
        escaped = {re.escape(w) for w in words} | {re.escape(w.upper()) for w in words}
        alternatives = "|".join(sorted(escaped, key=len, reverse=True))
        for match in re.finditer(rf"(?<![\w'-])(?:{alternatives})(?![\w-])", text):
            yield match.start(), match.end()


def _proper_nouns_after_cues(text: str, doc: Doc) -> Iterable[tuple[int, int, float]]:
    """Names after a label or a relative, when spaCy agrees they start with a proper noun (or, with more than
    one word, at least not with a word that is never a name) and they are no label, clinical term or organisation."""
    for pattern in _CUES_PROPER_NOUN:
        for match in pattern.finditer(text):
            start, end = match.span("value")
            value = text[start:end]
            if (value.split(",")[0].split()[0] in NOT_NAME_WORDS or _clinical_context(text, start, end)
                    or any(word in ORG_WORDS for word in _words(value))):
                continue
            pos = _pos_at(doc, start)
            if pos == "PROPN" or (pos not in NON_NAME_POS and len(value.split()) > 1):
                yield start, end, 0.85


def _words(value: str) -> list[str]:
    return re.findall(r"[A-Za-zÀ-ÿ]+(?:'[A-Za-z]+)?", value)


def _plausible_caps_name(value: str) -> bool:
    """Capitals that are not a heading, a field label, an organisation or an abbreviation."""
    words = [w for w in _words(value) if len(w) > 1 and w not in ("MC", "MAC", "ST")]
    return bool(words) and not any(
        w.title() in NOT_NAME_WORDS or w.title() in ORG_WORDS or w in PLACE_ABBREVIATIONS or w in CREDENTIAL_WORDS
        or not re.search(r"[AEIOUY]", w) for w in words
    )


def _proper_noun_phrase(doc: Doc, text: str, start: int, end: int) -> bool:
    """Every word a proper noun to spaCy, none a place, organisation word, label word or clinical term.
    A lower-case particle between the words ("Ana dos Santos") is itself a name's shape: then the
    first word is enough (the small model reads foreign surnames as nouns or verbs)."""
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None or _clinical_context(text, start, end):
        return False
    words = [t for t in span if t.text[:1].isalpha() and len(t.text) > 2 and t.text not in PARTICLES]
    proper = words[:1] if any(t.text in PARTICLES for t in span) else words
    if (len(words) < 2 or any(t.pos_ != "PROPN" for t in proper)
            or any(t.text in NOT_NAME_WORDS or t.text in ORG_WORDS for t in words)):
        return False
    return not any(e.label_ in ("GPE", "LOC", "FAC", "DATE", "EVENT", "LAW") and len(e) == len(span) for e in span.ents)


def _lower_case_name(doc: Doc, start: int, end: int, strong_cue: bool) -> bool:
    """Lower-case words after a name cue: no function word, verb or adjective; after a weak cue spaCy
    must also tag the first word a proper noun or the phrase a person."""
    span = doc.char_span(start, end, alignment_mode="expand")
    if span is None or any(t.is_stop or t.pos_ in NON_NAME_POS or t.pos_ == "ADJ" for t in span):
        return False
    return strong_cue or span[0].pos_ == "PROPN" or any(e.label_ == "PERSON" for e in span.ents)


def _pos_at(doc: Doc, start: int) -> str:
    span = doc.char_span(start, start + 1, alignment_mode="expand")
    return span[0].pos_ if span else ""


def _follows_name(text: str, start: int, ends_of_names: set[int]) -> bool:
    """True for "Jane Roe, MD": the credential right after a name is not a state."""
    gap = re.search(r",?\s*$", text[:start])
    return gap is not None and gap.start() in ends_of_names
