"""Inert words: vocabulary the detector never reads as (part of) an identifier or as an identifier's label.

The streaming answer guard (policies/stream.py) may release a prefix of complete inert words at once,
without waiting for a full scan. A word is inert when it is
- lower case (a contraction allowed: "don't"; a possessive is judged by its base: "patient's"), or
  capitalised where a sentence opens (start of the answer, after ".!?" and a space, after a newline) with
  its lower case inert and the next word already there and lower case ("Once upon", never "Will Brown");
- known-safe vocabulary (`Lexicon.safe_words`) and
- no first name or place, and when capitalised no surname and no first word of a place of several words
  (in lower case an everyday word on those lists, "heart", "desert", is no name), unless a
  function word (spaCy's stop words, which the name recognizer never counts as part of a lower-case name)
  that is no common US census given name: the name tables also hold "the", "a", "is" and "in", but never
  "will" or "may";
- no number word (normalise.py's spelled digits, the other cardinals, ordinals and multipliers);
- no month or weekday name (dates.py's month pattern, words.py's weekdays; so never "may");
- no label, cue, title, relative, role, credential, contact verb or context word of a recognizer: every
  word of the name recognizer's cue lists (names.py, words.py), of every rule's pattern and label (hipaa,
  pci, gdpr, contact, dates, ...) and of the recognizers' context lists; a stop word only when it is such a
  word on its own ("I", "per"), as the others ("is" in "MRN is", "of" in "next of kin") never open a label.
Each word is complete: optional closing punctuation from `,.;!?)"'`, then whitespace. A prefix ends at
anything else: a digit, "@", "/", ":", "_", "-", "#", a "." inside a token, any other symbol, a word still
growing (no whitespace after it yet), another apostrophe ("O'Brien"), a word of up to three letters before a
"." (an initial or abbreviation: "A. Lee", "St. Louis"), and it is empty unless `text` starts at a word
boundary (whitespace before it, or the start of the answer).
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from presidio_analyzer import EntityRecognizer
from spacy.lang.en.stop_words import STOP_WORDS

from .lexicon import Lexicon, census_first_names
from .normalise import NUMBER_WORDS
from .recognizers.base import RuleRecognizer
from .recognizers.contact import PHONE_WORDS
from .recognizers.dates import FOREIGN_MONTH, MONTH
from .recognizers.names import (
    CLOSINGS,
    CREDENTIALS,
    LABELS,
    PARTICLES,
    PLACE_CUES,
    RELATIVES,
    STRONG_LOWER_CUES,
    TITLES,
    WEAK_LOWER_CUES,
)
from .recognizers.pci import CARD_WORDS
from .words import CALENDAR_WORDS, CONTACT_VERBS, ROLES, TITLES_AND_CREDENTIALS

# Number words beyond normalise.py's spelled digits: an identifier can be spelled with any of them.
MORE_NUMBER_WORDS = frozenset((
    "nil naught ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty "
    "fifty sixty seventy eighty ninety hundred thousand million billion trillion dozen double triple treble "
    "quadruple first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth fortieth fiftieth "
    "sixtieth seventieth eightieth ninetieth hundredth thousandth millionth").split())
NAME_CUES = (LABELS, RELATIVES, TITLES, CREDENTIALS, ROLES, CONTACT_VERBS, STRONG_LOWER_CUES, WEAK_LOWER_CUES, CLOSINGS,
             PLACE_CUES)
CONTEXT_WORDS = (CARD_WORDS, PHONE_WORDS.pattern)  # words near a number that make it a card or a phone number
UNIT = re.compile(r"(?P<word>[A-Za-z]+(?:['’][A-Za-z]+)?)(?P<close>[,.;!?)\"']*)(?P<space>\s+)")
LEADING_SPACE = re.compile(r"\s*")
SENTENCE_OPEN = re.compile(r"(?:\A|[.!?][)\"']*\s|\n)\s*\Z")
REGEX_SYNTAX = re.compile(r"\\.|\(\?P?<\w+>|\(\?P=\w+\)|\(\?[aiLmsux]+[:)]|\[[^\]]*\]")  # escapes, groups, flags, classes
LETTERS = re.compile(r"[a-z]+(?:'[a-z]+)?")
MONTH_NAME = re.compile(rf"{MONTH}|{FOREIGN_MONTH}")
CONTRACTIONS = ("'s", "'t", "'ll", "'re", "'ve", "'d", "'m")  # any other apostrophe is part of a name: "o'brien"
# A function word that is also a given name this common is no inert word: "will" (0.018% of people in the
# 1990 census), "may" (0.029%); "in", "so", "my" (0.003% or less) are function words first.
GIVEN_NAME_MIN_PERCENT = 0.01
ABBREVIATION_MAX = 3  # letters of a word before a "." that may be an initial or abbreviation ("A.", "St.", "Dr.")


class InertWords:
    """Judges words against one detector's lexicon and recognizers (the word sets are derived once, here)."""

    def __init__(self, lexicon: Lexicon, recognizers: Iterable[EntityRecognizer]) -> None:
        recognizers = list(recognizers)
        rules = [r for recognizer in recognizers if isinstance(recognizer, RuleRecognizer) for r in recognizer.rules]
        sources = [*NAME_CUES, *CONTEXT_WORDS, *(r.pattern.pattern for r in rules)]
        words = {w for source in sources for w in LETTERS.findall(REGEX_SYNTAX.sub(" ", source).lower())}
        context = {w.lower() for recognizer in recognizers for w in getattr(recognizer, "context", None) or ()}
        self._cue_words = frozenset((words - STOP_WORDS) | context | PARTICLES | TITLES_AND_CREDENTIALS)
        self._cue = re.compile("|".join(f"(?:{s})" for s in [*NAME_CUES, *(r.label for r in rules if r.label)]), re.I)
        self._lexicon = lexicon
        self._named = lexicon.first_names | lexicon.places
        self._capitalised_names = lexicon.last_names | {p.split()[0] for p in lexicon.places}
        self._given_names = census_first_names(GIVEN_NAME_MIN_PERCENT)

    def prefix(self, text: str, *, after: str = "") -> int:
        """Length of the longest prefix of `text` made of complete inert words with their whitespace;
        `after` is the released text just before `text` (word boundary, sentence start)."""
        position = len(LEADING_SPACE.match(text)[0])  # type: ignore[index]  # \s* always matches
        if position == 0 and after[-1:] and not after[-1:].isspace():
            return 0  # the first fragment may be the rest of a word
        released, opens = 0, SENTENCE_OPEN.search(after + text[:position]) is not None
        while (unit := UNIT.match(text, position)) is not None:
            word, close = unit["word"], unit["close"]
            ends_sentence = any(c in ".!?" for c in close)
            following = "a" if ends_sentence else text[unit.end():unit.end() + 1]  # a capital may open the next one
            if (len(word) <= ABBREVIATION_MAX and "." in close) or not self._inert(word, opens, following):
                break  # "A. Lee", "St. Louis": an initial or an abbreviation may start a name
            released = position = unit.end()
            opens = ends_sentence or "\n" in unit["space"]
        return released

    def _inert(self, word: str, opens: bool, following: str) -> bool:
        """`word` in its case; a capitalised one opens a sentence and, unless it ends it, `following` is lower case."""
        lower = word.lower().replace("’", "'")
        if word != lower and not (opens and word == lower.capitalize() and following.islower()):
            return False
        if "'" in lower and not lower.endswith(CONTRACTIONS):
            return False  # "o'brien", "d'angelo"
        base = lower[:-2] if lower.endswith("'s") else lower  # "patient's" by "patient"; "it's" also whole
        return (base in self._lexicon.safe_words and not self._is_name(base, capitalised=word != lower)
                and not any(self._excluded(w) for w in {lower, base, base.split("'")[0]}))

    def _is_name(self, lower: str, *, capitalised: bool) -> bool:
        """A first name or place (a function word only when it is also a common given name: "will", "may");
        a surname or the first word of a place ("Desert Hot Springs") only when capitalised: in lower case,
        everyday words on those lists ("heart", "little", "desert") are read as names only after a first
        name or as a whole place name, neither of which is inert."""
        if lower in STOP_WORDS:
            return lower in self._given_names
        return lower in self._named or (capitalised and lower in self._capitalised_names)

    def _excluded(self, lower: str) -> bool:
        """A number word, a month or weekday, or a label, cue or context word of a recognizer."""
        return (lower in NUMBER_WORDS or lower in MORE_NUMBER_WORDS or lower in CALENDAR_WORDS
                or MONTH_NAME.fullmatch(lower.title()) is not None or lower in self._cue_words
                or self._cue.fullmatch(lower) is not None)
