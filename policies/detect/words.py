"""Name words for the recall-first layer (recall.py): which words of a text are people's names.

The text is cut into word units: letters with inner hyphens and apostrophes ("Seo-yeon", "O'Brien");
any other character separates them ("CHURCH,DMITRI" is two). Each unit carries spaCy's tags of the
token it starts in. A unit is "name", "maybe" (a name only beside a name or after a cue) or "safe":
- a capitalised word that is neither everyday English nor a clinical or drug word is a name, unless
  it opens a sentence (or is short, or spaCy reads an organisation): then "maybe";
- a name-table word: rare as English, a name; common, a name when spaCy reads a proper noun away from
  a sentence start, else "maybe"; a clinical word that is also a name ("Homer", "Fox") is "maybe";
- an abbreviation, a word of up to three letters and a heading ("Labs:") are "maybe" or "safe";
- lower case: a first name that is not English, or that spaCy reads as a person, is a name; a
  first name followed by a surname or an unknown word ("jasper oyelowo") makes both names.
"maybe" becomes "name" beside a name ("Kaiser, Donna"; a particle such as "van" between two names
counts too) or after a cue: a title, label or relative before it ("Dr.", "PATIENT:", "daughter"),
a credential after it ("X, M.D."), a contact verb or role before it ("called X", "nurse X"), a
relation or a reporting verb after it ("X (wife)", "X reports"). A title, label, relative or
credential also makes a common-word name a name ("Dr. Church", "CIAN FOX, M.D.").
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass

from spacy.tokens import Doc

from .lexicon import Lexicon
from .recognizers.names import (
    CREDENTIALS,
    DOSE_AFTER,
    EPONYM_AFTER,
    LABELS,
    NON_NAME_POS,
    NOT_NAME_PHRASE,
    NOT_NAME_WORDS,
    ORG_WORDS,
    PARTICLES,
    RELATIVES,
    TITLES,
)

COMMON_NAME_ZIPF = 4.0     # a name word rarer than this as English is always a name ("Donna", "Kaiser")
VERY_COMMON_ZIPF = 5.0     # one more common than this only beside a name ("Start", "Will", "Church")
SHORT_WORD = 3             # "Na", "RR", "Hgb": abbreviations unless beside a name
SHORT_UNKNOWN_WORD = 4     # "Phos", "Tdap": unknown and short, a name only beside a name
ABBREVIATION_MAX = 5
ABBREVIATION = re.compile(r"^[A-Z]{2,}[a-z]{1,2}$")  # "PMHx", "CTh"
WORD_UNIT = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
NAME_SEPARATOR = re.compile(r"^(?:[ ]|,[ ]?)$")
ROLES = (r"nurse|aide|doctor|physician|dentist|midwife|colleague|landlord|landlady|tenant|neighbou?r|witness|supervisor"
         r"|teacher|caseworker|carer|chaplain|lawyer|solicitor|attorney|agent|advisor|adviser|officer|rep")
CONTACT_VERBS = (r"called|phoned|rang|paged|e-?mailed|texted|messaged|met|saw|told|asked|visited|thanked|informed|contacted"
                 r"|reached|(?:spoke|talked|met|discussed)[ \t]+(?:with|to)|per|cc|attn")
REPORT_VERBS = (r"reports?|reported|states?|stated|says|said|denies|denied|notes|noted|complains|presents|presented|endorses"
                r"|agrees|agreed|declines|declined|arrived|called|wrote|writes|asks|asked|is[ \t]+an?[ \t]+\d|was[ \t]+seen")
LABEL_OR_ROLE = re.compile(rf"(?i:{LABELS}|{ROLES})")
STRONG_CUE_BEFORE = re.compile(rf"(?:(?i:\b(?:{LABELS}|{RELATIVES})\b)[ \t]*[:,\-]?|\b{TITLES})[ \t]*$")
WEAK_CUE_BEFORE = re.compile(rf"(?i:\b(?:{ROLES}|{CONTACT_VERBS}))[ \t]*:?[ \t]*$")
CREDENTIAL_AFTER = re.compile(rf"^,?[ ]*(?:{CREDENTIALS})(?![A-Za-z])")
CREDENTIAL = re.compile(rf"(?:{CREDENTIALS})(?![A-Za-z])")
WEAK_CUE_AFTER = re.compile(rf"^(?:[ \t]*\((?i:{RELATIVES}|{ROLES})\)|[ \t]+(?:{REPORT_VERBS})\b)")
FIELD_LABEL_AFTER = re.compile(r"^(?:[ ]+[a-z]+){0,2}[ ]?:")  # "Cardholder name:", "Temp:"
MEASURE_AFTER = re.compile(r"^[ ]?[=:]?[ ]?\d")  # "Temp 38.2": an English word before a number
NOT_CUED_POS = NON_NAME_POS | {"ADJ", "INTJ"}  # "Agent: Is there ...", "Agent: Lovely."
CALENDAR_WORDS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
TITLES_AND_CREDENTIALS = frozenset(
    "dr mr mrs ms mx miss prof sr jr rn md do np pa lpn cna phd dds pharmd aprn fnp msw lcsw".split())


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int
    pos: str    # spaCy's part of speech of the token the word starts in
    ent: str    # spaCy's entity label there ("" outside entities)
    lemma: str


def word_units(text: str, doc: Doc) -> list[Word]:
    """The word units of `text`, with the spaCy tags of the token each starts in."""
    tokens = list(doc)
    starts = [t.idx for t in tokens]
    words = []
    for match in WORD_UNIT.finditer(text):
        if _inside_address(text, match.start(), match.end()):
            continue
        token = tokens[max(0, bisect.bisect_right(starts, match.start()) - 1)] if tokens else None
        words.append(Word(match.group(0), match.start(), match.end(), token.pos_ if token else "",
                          token.ent_type_ if token else "", token.lemma_.lower() if token else ""))
    return words


def _inside_address(text: str, start: int, end: int) -> bool:
    """Part of an e-mail address or a URL (their own recognizers find those): "ana.lopez@x.es"."""
    run_start = max(text.rfind(" ", 0, start), text.rfind("\n", 0, start)) + 1
    run_end = min((i for i in (text.find(" ", end), text.find("\n", end)) if i >= 0), default=len(text))
    run = text[run_start:run_end]
    return "@" in run or "://" in run or run.startswith("www.")


def name_spans(words: list[Word], text: str, lexicon: Lexicon) -> Iterable[tuple[int, int]]:
    """(start, end) of each word unit (`word_units(text, doc)`) that is a name."""
    verdicts = [_verdict(w, text, lexicon) for w in words]
    for i, word in enumerate(words):
        if word.pos in NOT_CUED_POS:
            continue
        if _cued_to_name(word, verdicts[i], text, lexicon):
            verdicts[i] = "name"
    pairs = [*_lower_case_pairs(words, text, lexicon), *_comma_pairs(words, verdicts, text, lexicon),
             *_first_last_pairs(words, verdicts, text, lexicon)]
    for i in pairs:
        verdicts[i] = "name"
    _spread(words, verdicts, text, lexicon)
    return [(w.start, w.end) for w, v in zip(words, verdicts) if v == "name"]


def _cued_to_name(word: Word, verdict: str, text: str, lexicon: Lexicon) -> bool:
    """A "maybe" after any cue is a name; so is a capitalised everyday word after a strong cue, when it may be one."""
    if verdict == "maybe":
        return _strongly_cued(word, text) or _weakly_cued(word, text)
    return (verdict == "safe" and word.text[0].isupper() and _overridable(word, text, lexicon)
            and _strongly_cued(word, text))


def _spread(words: list[Word], verdicts: list[str], text: str, lexicon: Lexicon) -> None:
    """A "maybe" next to a name (or apart from it by a particle: "van Dijk") is a name, and so is a
    particle between two names, until nothing changes."""
    def name_at(i: int, step: int) -> bool:
        j = i + step
        if not 0 <= j < len(words):
            return False
        first, second = sorted((words[i], words[j]), key=lambda w: w.start)
        if not _adjacent(first, second, text):
            return False
        if words[j].text.lower() in PARTICLES:
            return name_at(j, step)
        return verdicts[j] == "name" and _same_case(words[i], words[j], lexicon)

    changed = True
    while changed:
        changed = False
        for i, word in enumerate(words):
            if (verdicts[i] == "name" or (verdicts[i] != "maybe" and word.text.lower() not in PARTICLES)
                    or word.pos in NOT_CUED_POS):
                continue
            left, right = name_at(i, -1), name_at(i, 1)
            if (left and right) or (verdicts[i] == "maybe" and (left or right)):
                verdicts[i] = "name"
                changed = True


def _same_case(word: Word, name: Word, lexicon: Lexicon) -> bool:
    """An abbreviation in capitals joins a capitalised name only if it is a name-table word longer than an
    abbreviation ("Carter DEA", "Lopez RN" no)."""
    return (not word.text.isupper() or name.text.isupper()
            or (len(word.text) > SHORT_UNKNOWN_WORD - 1 and _is_name(word.text.lower(), lexicon)))


def _adjacent(first: Word, second: Word, text: str) -> bool:
    """Apart only by a space or a comma on the same line ("Kaiser, Donna", "CHURCH,DMITRI")."""
    return NAME_SEPARATOR.match(text[first.end:second.start]) is not None


def _verdict(word: Word, text: str, lexicon: Lexicon) -> str:
    """"name" (an identifier), "maybe" (a name only beside a name or after a cue) or "safe"."""
    value, lower = word.text, word.text.lower()
    is_name = _is_name(lower, lexicon)
    if _vocabulary(word, text, lexicon) or ("-" in lower and all(p in lexicon.safe_words for p in lower.split("-"))):
        return "safe"  # ... and "Pick-up", "Post-op"
    if lower in lexicon.clinical_words:
        return "maybe" if is_name and value[0].isupper() else "safe"  # "Homer", "Fox": eponyms, and names
    if not value[0].isupper():
        return _lower_case(word, lexicon)
    if len(value) <= SHORT_WORD or (value.isupper() and len(value) <= ABBREVIATION_MAX) or ABBREVIATION.match(value):
        return "maybe" if is_name or lower not in lexicon.safe_words else "safe"  # "RR", "Hgb", "IBAN", "PMHx"
    if value.isupper() and lower in lexicon.safe_words:
        return "maybe" if is_name else "safe"  # headings in capitals: "TRIAGE NOTE"; "FILBERT BRIGHT" by its neighbour
    initial = _sentence_initial(text, word.start)
    if lower not in lexicon.safe_words and word.lemma not in lexicon.safe_words:
        if is_name or not (initial or word.ent == "ORG" or len(value) <= SHORT_UNKNOWN_WORD):
            return "name"
        return "maybe"  # "Prescriber requests ...", "Insurance: Aetna", "Phos": a name only beside a name
    return _dictionary_word_verdict(word, is_name, initial, lexicon)


def _dictionary_word_verdict(word: Word, is_name: bool, initial: bool, lexicon: Lexicon) -> str:
    """A capitalised everyday word: "safe" unless also a name, then "name" when rare as a word (unless it
    opens a sentence as a noun, verb or adjective) or a proper noun mid-sentence not very common, else "maybe"."""
    if not is_name:
        return "safe"
    frequency = lexicon.frequency(word.text.lower())
    if frequency < COMMON_NAME_ZIPF:
        return "maybe" if initial and word.pos in ("NOUN", "VERB", "ADJ") else "name"  # "Billing ZIP ..."
    if frequency < VERY_COMMON_ZIPF and word.pos == "PROPN" and not initial and not word.text.isupper():
        return "name"
    return "maybe"


def _is_name(lower: str, lexicon: Lexicon) -> bool:
    """A name-table word; a hyphenated one by its first part ("min-jun", "jean-baptiste")."""
    head = lower.split("-", 1)[0]
    return lexicon.is_name(lower) or ("-" in lower and len(head) > 2 and lexicon.is_name(head))


def _lower_case(word: Word, lexicon: Lexicon) -> str:
    """A lower-case first name that is not English, or that spaCy reads as a person ("pt harold"), is a
    name; a lower-case surname that is not English is one only beside such a name."""
    lower = word.text
    if not _is_name(lower, lexicon) or lower in PARTICLES:
        return "safe"
    if lower in lexicon.first_names and (lower not in lexicon.safe_words or word.ent == "PERSON"):
        return "name"
    return "maybe" if lower not in lexicon.safe_words else "safe"


def _lower_case_pairs(words: list[Word], text: str, lexicon: Lexicon) -> Iterable[int]:
    """Both words of "jasper oyelowo", "pierre kozlov": a lower-case first name that is not a very common
    English word and, after one space, a surname or a word that is no vocabulary, one of the two not
    being everyday English (so "rose garden" stays safe)."""
    for i in range(len(words) - 1):
        first, second = words[i], words[i + 1]
        if not (first.text.islower() and second.text.isalpha() and second.text.islower() and len(second.text) > 2
                and text[first.end:second.start] == " "):
            continue
        if (first.text.split("-", 1)[0] not in lexicon.first_names or first.text in PARTICLES
                or lexicon.frequency(first.text) >= VERY_COMMON_ZIPF
                or second.text in lexicon.clinical_words):
            continue
        unknown = [w for w in (first.text, second.text) if w not in lexicon.safe_words]
        if unknown and (second.text in lexicon.last_names or second.text in unknown):
            yield from (i, i + 1)


def _comma_pairs(words: list[Word], verdicts: list[str], text: str, lexicon: Lexicon) -> Iterable[int]:
    """Both words of "TANAKA,ROSE", "Kaiser, Donna": two capitalised words of one case, a comma between,
    each a possible name (a "safe" one only if a name-table word, "CHURCH,DMITRI") and one of them a
    name-table word (a record header's "LAST,FIRST")."""
    for i in range(len(words) - 1):
        first, second = words[i], words[i + 1]
        if text[first.end:second.start] not in (",", ", ") or any(
                verdicts[j] == "safe" and not _overridable(words[j], text, lexicon) for j in (i, i + 1)):
            continue
        same_case = (first.text.isupper() and second.text.isupper()) or (first.text.istitle() and second.text.istitle())
        if same_case and len(first.text) > 1 and len(second.text) > 1 and (
                _is_name(first.text.lower(), lexicon) or _is_name(second.text.lower(), lexicon)):
            yield from (i, i + 1)


def _first_last_pairs(words: list[Word], verdicts: list[str], text: str, lexicon: Lexicon) -> Iterable[int]:
    """Both words of "Ciaran Cross", "Ilse Love": a capitalised first name or unknown word that is not
    known safe, one space, then a capitalised surname that is no label ("Cross", "Love" are surnames too)."""
    for i in range(len(words) - 1):
        first, second = words[i], words[i + 1]
        if verdicts[i] == "safe" or verdicts[i + 1] == "name" or text[first.end:second.start] != " ":
            continue
        lower, after = first.text.lower(), text[second.end:second.end + 40]
        if (first.text.istitle() and second.text.istitle() and second.text.lower() in lexicon.last_names
                and (lower in lexicon.first_names or lower not in lexicon.safe_words) and second.pos not in NOT_CUED_POS
                and FIELD_LABEL_AFTER.match(after) is None and second.text.lower() not in TITLES_AND_CREDENTIALS):
            yield from (i, i + 1)


def _vocabulary(word: Word, text: str, lexicon: Lexicon) -> bool:
    """Field labels ("Cardholder name:", "Temp:"), titles and credentials, roles and organisation words,
    eponyms and drugs before a clinical term or a dose."""
    after = text[word.end:word.end + 40]
    title = word.text.title()
    return (FIELD_LABEL_AFTER.match(after) is not None or word.text.lower() in TITLES_AND_CREDENTIALS
            or CREDENTIAL.match(text, word.start) is not None  # "M.D.", "PA-C"
            or word.text.lower() in CALENDAR_WORDS or LABEL_OR_ROLE.fullmatch(word.text) is not None  # "Prescriber"
            or EPONYM_AFTER.match(after) is not None or DOSE_AFTER.match(after) is not None  # "Babinski sign"
            or (MEASURE_AFTER.match(after) is not None and word.text.lower() in lexicon.safe_words)
            or title in NOT_NAME_WORDS or title in ORG_WORDS or NOT_NAME_PHRASE.fullmatch(word.text) is not None)


def _overridable(word: Word, text: str, lexicon: Lexicon) -> bool:
    """A "safe" word that a strong cue makes a name: a name-table word that is no label, title or heading."""
    after = text[word.end:word.end + 40]
    return (_is_name(word.text.lower(), lexicon) and word.text.title() not in NOT_NAME_WORDS
            and word.text.lower() not in TITLES_AND_CREDENTIALS and FIELD_LABEL_AFTER.match(after) is None
            and EPONYM_AFTER.match(after) is None and DOSE_AFTER.match(after) is None)


def _before(word: Word, text: str) -> str:
    line_start = text.rfind("\n", 0, word.start) + 1
    return text[max(line_start, word.start - 40):word.start]


def _strongly_cued(word: Word, text: str) -> bool:
    return (STRONG_CUE_BEFORE.search(_before(word, text)) is not None
            or CREDENTIAL_AFTER.match(text[word.end:word.end + 12]) is not None)


def _weakly_cued(word: Word, text: str) -> bool:
    return (WEAK_CUE_BEFORE.search(_before(word, text)) is not None
            or WEAK_CUE_AFTER.match(text[word.end:word.end + 30]) is not None)


def _line_initial(text: str, start: int) -> bool:
    return text[text.rfind("\n", 0, start) + 1:start].strip() == ""


def _sentence_initial(text: str, start: int) -> bool:
    """At the start of a line or after a sentence's end (spaCy's parser, which marks sentences, is off)."""
    before = text[max(0, start - 8):start].rstrip(" \t")
    return _line_initial(text, start) or before.endswith((".", "!", "?", ":", ";"))
