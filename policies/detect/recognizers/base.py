"""Shared machinery of our recognizers: regex rules with validators, and labelled identifiers."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

Scorer = Callable[[re.Match[str]], "float | None"]  # None rejects the match

# Between a label ("MRN", "Member ID") and its value: punctuation and filler words such as
# "MRN: ", "account no. ", "medical record number is ", "CVV (".
CONNECTOR = r"(?:\s*(?:[:#=().]|-(?!\d)|(?i:\b(?:is|was|number|numbers|no|nbr|num|id|code|on\s+file)\b)\.?)){0,4}\s*"
# A label some words before its value, the phrase closed by a colon or "is"/"was": "NPI of referring
# provider: ", "medical record number for this encounter is ", "MRN (hospital): ".
LABEL_PHRASE = r"(?:[ \t]+(?:[a-z]+|\([^()\n]{1,20}\))){1,4}[ \t]*(?::|\bis\b|\bwas\b)[ \t]*"
END = r"(?![A-Za-z0-9])"
LABEL_START_KEY = "label_start"  # in a result's recognition metadata: where the value's label begins


@dataclass(frozen=True)
class Rule:
    """A regex whose group `value` (else the whole match) is a finding, scored by `score`; `label` is the
    label alternation of a labelled rule (for readers of the label words, inert.py)."""

    pattern: re.Pattern[str]
    score: float | Scorer
    label: str = ""

    def findings(self, text: str) -> Iterable[tuple[int, int, float, int]]:
        """(start, end, score, label start) of each accepted match; the label start is the match's start."""
        for match in self.pattern.finditer(text):
            score = self.score(match) if callable(self.score) else self.score
            if score is None:
                continue
            group = "value" if "value" in self.pattern.groupindex else 0
            start, end = match.span(group)
            if start < end:
                yield start, end, score, match.start()


def rule(pattern: str, score: float | Scorer, flags: int = 0, label: str = "") -> Rule:
    return Rule(re.compile(pattern, flags), score, label)


def labelled(label: str, value: str, score: float | Scorer) -> Rule:
    """`value` after a case-insensitive `label` and a CONNECTOR or LABEL_PHRASE; the value stays case-sensitive."""
    return rule(rf"(?i:\b(?:{label}))(?![A-Za-z])(?:{LABEL_PHRASE}|{CONNECTOR})(?P<value>{value}){END}", score, label=label)


def compact(text: str) -> str:
    """The identifier without separators (spaces, dashes, dots, slashes)."""
    return re.sub(r"[\s\-./]", "", text)


def value_of(match: re.Match[str]) -> str:
    return match.group("value") if "value" in match.re.groupindex else match.group(0)


def checked(validator: Callable[[str], bool], score: float) -> Scorer:
    """Score `score` when the separator-free value passes `validator`, else reject."""
    return lambda match: score if validator(compact(value_of(match))) else None


def with_digits(minimum: int, score: float) -> Scorer:
    """Accept a labelled value only if it holds at least `minimum` digits."""
    return lambda match: score if sum(c.isdigit() for c in value_of(match)) >= minimum else None


class RuleRecognizer(EntityRecognizer):
    """A presidio recognizer for one entity type made of `Rule`s (no NLP artifacts needed)."""

    name: str  # set by presidio's constructor, which does not annotate it

    def __init__(self, entity: str, rules: Iterable[Rule], name: str) -> None:
        self.rules = tuple(rules)
        super().__init__(supported_entities=[entity], name=name, supported_language="en")

    def load(self) -> None:
        """Rules are compiled at construction."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        entity = self.supported_entities[0]
        best: dict[tuple[int, int], tuple[float, int]] = {}
        for one_rule in self.rules:
            for start, end, score, label_start in one_rule.findings(text):
                previous = best.get((start, end), (0.0, start))
                best[(start, end)] = (max(score, previous[0]), min(label_start, previous[1]))
        return [self.result(entity, start, end, score, label_start) for (start, end), (score, label_start) in best.items()]

    def result(self, entity: str, start: int, end: int, score: float, label_start: int | None = None) -> RecognizerResult:
        metadata = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        if label_start is not None and label_start < start:
            metadata[LABEL_START_KEY] = label_start
        return RecognizerResult(entity, start, end, score, recognition_metadata=metadata)
