"""The detector: presidio's analyzer with our spaCy model and recognizers, offline."""
from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, Pattern, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer
from spacy.language import Language

from ..findings import Finding
from ..vocabulary import ENTITY_TYPES, ZONES
from .address_tail import address_tails
from .inert import InertWords
from .lexicon import Lexicon, load_lexicon
from .normalise import Normalised, normalise
from .offline import load_spacy_pipeline, spacy_engine, use_bundled_suffix_list
from .overlaps import resolve_overlaps
from .recall import external_findings, recall_findings
from .recognizers import our_recognizers
from .recognizers.base import LABEL_START_KEY
from .recognizers.web import WholeUrlRecognizer

SCORE_THRESHOLD = 0.5
# Nothing reads dependency parses; skipping the parser saves ~15% of the spaCy pass.
UNUSED_SPACY_COMPONENTS = ("parser",)
BATCH_SIZE = 16
# spaCy labels we use (dates come from our own date recognizer, which needs a real date shape).
NER_CONFIGURATION = NerModelConfiguration(
    model_to_presidio_entity_mapping={"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION",
                                      "FAC": "LOCATION"},
    labels_to_ignore=["ORG", "NORP", "DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT", "EVENT",
                      "LANGUAGE", "LAW", "PRODUCT", "WORK_OF_ART"],
)


class DetectorUnavailable(RuntimeError):
    """The detector cannot run (spaCy model or presidio missing or broken): callers must fail closed."""


SPLIT_NUMBER = re.compile(r"(?:\d[-./]|[-./]\d)")  # "219-09" + "-9998": the messages join without a space


@dataclass(frozen=True)
class Scan:
    """One text as scanned for a zone.

    `text` is what may be sent to that zone: the original for the local zone, else the normalised
    text that was scanned (so what leaves is exactly what was checked); `findings` point into it.
    `original_findings` point into the original text.
    """

    normalised: Normalised
    scanned_findings: list[Finding]  # offsets into the normalised text
    zone: str

    @property
    def text(self) -> str:
        return self.normalised.original if self.zone == "local" else self.normalised.text

    @property
    def findings(self) -> list[Finding]:
        return self.original_findings if self.zone == "local" else self.scanned_findings

    @property
    def original_findings(self) -> list[Finding]:
        if not self.normalised.changed:
            return self.scanned_findings
        span = self.normalised.original_span
        mapped = [Finding(*span(f.start, f.end), f.entity_type, f.score, f.recognizer,
                          None if f.label_start is None else span(f.label_start, f.label_start + 1)[0])
                  for f in self.scanned_findings]
        return resolve_overlaps(mapped)


class Detector:
    """Finds PII/PHI/PCI in text; one spaCy pass per text, findings never overlap.

    Text is normalised first (normalise.py). Every zone gets presidio and our recognizers; non-local
    zones add the recall-first layer (recall.py), the external zone also its digit-run and encoded-run rule.
    """

    def __init__(self, analyzer: AnalyzerEngine, lexicon: Lexicon) -> None:
        self.analyzer = analyzer
        self.lexicon = lexicon
        self._inert_words = InertWords(lexicon, analyzer.registry.recognizers)  # word sets derived once (~0.2 s)

    @classmethod
    def load(cls) -> Detector:
        """Load spaCy, presidio and the word tables (seconds). Raises DetectorUnavailable with the reason."""
        try:
            use_bundled_suffix_list()
            nlp = load_spacy_pipeline(exclude=UNUSED_SPACY_COMPONENTS)
            registry = RecognizerRegistry(recognizers=[*presidio_recognizers(), *our_recognizers()], supported_languages=["en"])
            analyzer = AnalyzerEngine(registry=registry, nlp_engine=spacy_engine(nlp, NER_CONFIGURATION),
                                      supported_languages=["en"], default_score_threshold=SCORE_THRESHOLD)
            return cls(analyzer, load_lexicon())
        except Exception as error:  # any failure to load means no detection: fail closed, say why
            raise DetectorUnavailable(f"detector cannot load: {type(error).__name__}: {error}") from error

    def inert_prefix(self, text: str, *, after: str = "") -> int:
        """Length of the longest prefix of `text` made of complete inert words, which no scan of this detector
        finds any part of (inert.py); `after` is the text just before `text`."""
        return self._inert_words.prefix(text, after=after)

    def analyze(self, text: str) -> list[Finding]:
        """Findings in `text` (local zone), offsets into `text`, sorted by start, non-overlapping."""
        return self.scan(text, "local").original_findings

    def analyze_many(self, texts: list[str]) -> list[list[Finding]]:
        """`analyze` for each text, with spaCy batching the texts."""
        return [scan.original_findings for scan in self.scan_many(texts, "local")]

    def scan(self, text: str, zone: str) -> Scan:
        return self.scan_batch([([text], zone)])[0][0]

    def scan_many(self, texts: list[str], zone: str) -> list[Scan]:
        """Each text normalised and scanned for `zone`, on its own."""
        return [scans[0] for scans in self.scan_batch([([text], zone) for text in texts])]

    def scan_messages(self, texts: list[str], zone: str) -> list[Scan]:
        """`scan_many`, plus the messages joined: an identifier split across messages, or a label in one
        message and its value in the next, is found in each message it touches."""
        return self.scan_batch([(texts, zone)])[0]

    def scan_batch(self, requests: Sequence[tuple[Sequence[str], str]]) -> list[list[Scan]]:
        """`scan_messages` for each (texts, zone) request, every text of a zone (the joined messages
        included) in one spaCy batch: what a process scanning for many callers at once runs (batcher.py)."""
        for texts, zone in requests:
            if zone not in ZONES:
                raise ValueError(f"unknown zone {zone!r} (known: {', '.join(ZONES)})")
            for text in texts:
                _require_text(text)
        normalised = [[normalise(text) for text in texts] for texts, _ in requests]
        joins = [_Joined.of([n.text for n in each]) if len(each) > 1 else None for each in normalised]
        units: dict[str, list[tuple[str, tuple[tuple[int, int], ...]]]] = defaultdict(list)
        for each, joined, (_, zone) in zip(normalised, joins, requests):
            units[zone] += [(n.text, n.decoded) for n in each]
            if joined is not None:
                units[zone].append((joined.text, ()))
        found = {zone: iter(self._detect([text for text, _ in batch], zone, [spans for _, spans in batch]))
                 for zone, batch in units.items()}
        results = []
        for each, joined, (_, zone) in zip(normalised, joins, requests):
            scans = [Scan(n, next(found[zone]), zone) for n in each]
            results.append(scans if joined is None else joined.spread(next(found[zone]), scans))
        return results

    def _detect(self, texts: list[str], zone: str, decoded: list[tuple[tuple[int, int], ...]]) -> list[list[Finding]]:
        batch = self.analyzer.nlp_engine.process_batch(texts, language="en", batch_size=BATCH_SIZE)
        return [self._findings(text, artifacts, zone, spans) if text.strip() else []
                for (text, artifacts), spans in zip(batch, decoded)]

    def _findings(self, text: str, artifacts: NlpArtifacts, zone: str, decoded: tuple[tuple[int, int], ...]) -> list[Finding]:
        results = self.analyzer.analyze(text=text, language="en", nlp_artifacts=artifacts)
        findings = [
            Finding(r.start, r.end, r.entity_type, float(r.score),
                    (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "unknown"),
                    (r.recognition_metadata or {}).get(LABEL_START_KEY))
            for r in results if r.entity_type in ENTITY_TYPES
        ]
        findings += address_tails(text, findings)
        if zone != "local":
            findings += recall_findings(text, artifacts.tokens, self.lexicon)
        if zone == "external":
            findings += external_findings(text, decoded, findings)
        return resolve_overlaps(findings)


@dataclass(frozen=True)
class _Joined:
    """Normalised messages joined for one scan across them; `starts` is where each message begins."""

    text: str
    starts: tuple[int, ...]

    @classmethod
    def of(cls, texts: list[str]) -> _Joined:
        separators = [_separator(before, after) for before, after in zip(texts, texts[1:])] + [""]
        starts = tuple(itertools.accumulate((len(t) + len(s) for t, s in zip(texts, separators)), initial=0))[:-1]
        return cls("".join(t + s for t, s in zip(texts, separators)), starts)

    def spread(self, across: list[Finding], scans: list[Scan]) -> list[Scan]:
        """Each message's scan with the joined scan's findings that touch it added (clipped to it)."""
        merged = []
        for scan, offset in zip(scans, self.starts):
            end = offset + len(scan.normalised.text)
            inside = [Finding(max(f.start, offset) - offset, min(f.end, end) - offset, f.entity_type, f.score, f.recognizer)
                      for f in across if f.start < end and f.end > offset]
            merged.append(Scan(scan.normalised, resolve_overlaps([*scan.scanned_findings, *inside]), scan.zone))
        return merged


def _separator(before: str, after: str) -> str:
    """How two messages join for scanning: directly when a number is cut at a separator, else by a space."""
    return "" if SPLIT_NUMBER.fullmatch(before[-1:] + after[:1]) else " "


def presidio_recognizers() -> list[EntityRecognizer]:
    """Presidio's own e-mail (validated by tldextract, offline), URL (extended to the whole link) and IP recognizers.

    E-mail scores high so that a whole address wins over the URL-like domain inside it.
    """
    email_patterns = [Pattern(p.name, p.regex, 0.9) for p in EmailRecognizer.PATTERNS]
    return [EmailRecognizer(patterns=email_patterns), WholeUrlRecognizer(), IpRecognizer()]


def stock_presidio_analyzer(nlp: Language | None = None) -> AnalyzerEngine:
    """Stock presidio (default recognizers and NER mapping) on the same spaCy model, for comparison."""
    use_bundled_suffix_list()
    return AnalyzerEngine(nlp_engine=spacy_engine(nlp or load_spacy_pipeline()), supported_languages=["en"])


def _require_text(text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"detector input must be str, got {type(text).__name__}")
