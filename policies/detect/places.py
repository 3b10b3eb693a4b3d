"""Place names for the recall-first layer (recall.py), from a gazetteer and the shape of place names.

- A phrase of up to four capitalised words that the gazetteer knows (GeoNames cities over 15,000
  people and countries, lexicon.py) is a LOCATION when one of its words is not everyday English
  ("Thessaloniki", "Cluj-Napoca"). When every word is English ("Bath", "Red Deer", "Kingston"), or a
  clinical word ("Norwalk"), it needs more: spaCy reads a place there, a place cue comes before it
  ("in", "from", "near", ...), or a comma and a capitalised word, a postcode or an organisation word
  follow it ("Kingston, ON", "Bangor MEDICAL CENTER").
- A place prefix before a name or an unknown word is a place with it: "Lake Tina", "Port Reginald",
  "East Alvin", "Mount Vernon".
- A named care facility: capitalised words before "Hospital", "Infirmary", "Clinic", "Medical
  Centre", ... ("Northgate General Hospital", "St Brigid's Infirmary"), unless every word before is
  a clinical or department word ("Cardiology Clinic", "Pain Clinic").
"""
from __future__ import annotations

import re
from typing import Iterable

from .lexicon import Lexicon
from .recognizers.names import ORG_WORDS
from .words import VERY_COMMON_ZIPF, Word

MAX_WORDS = 4
PLACE_PREFIXES = frozenset("lake port mount mt fort ft new east west north south san santa saint st glen point cape isle "
                           "little great upper lower bay".split())
INNER_PARTICLES = frozenset("de la do da del di du des le upon on sur am im an der den el al".split())
PLACE_CUE_BEFORE = re.compile(r"(?i:\b(?:in|from|to|near|at|of|outside|via|visiting|towards?|around|into|born|lives|lived|en|a|à|nach|aus|bei"
                              r"|moved|moving|relocat\w+|based|resident|residing)\b(?:[ \t]+the)?|,)[ \t]*$")
PLACE_AFTER = re.compile(rf"^(?:,[ \t]*(?:[A-Z][A-Za-z]|\d)|[ \t]+[A-Z]{{1,2}}\d|[ \t]+(?i:{'|'.join(sorted(ORG_WORDS))})\b)")
PLACE_ENTITIES = ("GPE", "LOC", "FAC")
FACILITY_WORDS = (r"hospital|infirmary|clinic|polyclinic|medical[ ]cent(?:er|re)|health[ ]cent(?:er|re)|surgery|practice|hospice"
                  r"|nursing[ ]home|care[ ]home|medical[ ]group|health[ ]system|sanatorium")
FACILITY_SCORE = 0.86  # a named facility is one place: it wins over a name read inside it ("St Brigid")
FACILITY = re.compile(rf"(?P<name>(?:[A-Z][\w'’.-]*[ ]){{1,4}})(?i:{FACILITY_WORDS})\b")


def place_spans(words: list[Word], text: str, lexicon: Lexicon) -> Iterable[tuple[int, int]]:
    """(start, end) of each place name among `words` (the word units of `text`)."""
    i = 0
    while i < len(words):
        length = _gazetteer_phrase(words, i, text, lexicon) or _prefixed_place(words, i, text, lexicon)
        if length:
            yield words[i].start, words[i + length - 1].end
        i += max(length, 1)


def facility_spans(text: str, lexicon: Lexicon) -> Iterable[tuple[int, int]]:
    """(start, end) of each named care facility in `text`."""
    for match in FACILITY.finditer(text):
        words = re.findall(r"[A-Za-z]+", match.group("name"))
        if words and words[0] == "The":
            words = words[1:]
        if any(w.lower() not in lexicon.clinical_words and w.title() not in ORG_WORDS and len(w) > 2 for w in words):
            yield match.start() + (4 if match.group(0).startswith("The ") else 0), match.end()


def _gazetteer_phrase(words: list[Word], i: int, text: str, lexicon: Lexicon) -> int:
    """The number of words of the longest place name at word `i` that counts here (0 if none)."""
    for length in range(min(MAX_WORDS, len(words) - i), 0, -1):
        phrase = words[i:i + length]
        if not _capitalised_phrase(phrase, text):
            continue
        if " ".join(w.text.lower() for w in phrase) in lexicon.places and _counts(phrase, text, lexicon):
            return length
    return 0


def _capitalised_phrase(phrase: list[Word], text: str) -> bool:
    """Words one space apart, the first and the last capitalised, inner ones capitalised or particles."""
    if any(text[a.end:b.start] != " " for a, b in zip(phrase, phrase[1:])):
        return False
    return (phrase[0].text[0].isupper() and phrase[-1].text[0].isupper()
            and all(w.text[0].isupper() or w.text in INNER_PARTICLES for w in phrase[1:-1]))


def _counts(phrase: list[Word], text: str, lexicon: Lexicon) -> bool:
    lowers = [w.text.lower() for w in phrase]
    if any(w not in lexicon.safe_words for w in lowers):
        return True
    start, end = phrase[0].start, phrase[-1].end
    if PLACE_AFTER.match(text[end:end + 40]) or phrase[0].ent in PLACE_ENTITIES:
        return True
    common = len(phrase) == 1 and lexicon.frequency(lowers[0]) >= VERY_COMMON_ZIPF  # "Best", "Police", "Normal"
    line_start = text.rfind("\n", 0, start) + 1
    return not common and PLACE_CUE_BEFORE.search(text[max(line_start, start - 30):start]) is not None


def _prefixed_place(words: list[Word], i: int, text: str, lexicon: Lexicon) -> int:
    """2 for "Lake Tina", "Port Reginald": a place prefix and a name, an unknown word or a place."""
    if i + 1 >= len(words) or words[i].text.lower() not in PLACE_PREFIXES or not words[i].text[0].isupper():
        return 0
    following = words[i + 1]
    if not following.text[0].isupper() or text[words[i].end:following.start] not in (" ", ". "):
        return 0
    lower = following.text.lower()
    return 2 if (lexicon.is_name(lower) or lower in lexicon.places or lower not in lexicon.safe_words) else 0
