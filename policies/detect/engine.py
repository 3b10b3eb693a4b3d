"""The detector: presidio's analyzer with our spaCy model and recognizers, offline."""
from __future__ import annotations

from presidio_analyzer import AnalyzerEngine, Pattern, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NerModelConfiguration
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer, UrlRecognizer
from spacy.language import Language

from ..findings import Finding
from .offline import load_spacy_pipeline, spacy_engine, use_bundled_suffix_list
from .overlaps import resolve_overlaps
from .recognizers import our_recognizers
from .vocabulary import ENTITY_TYPES

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


class Detector:
    """Finds PII/PHI/PCI in text; one spaCy pass per text, findings never overlap."""

    def __init__(self, analyzer: AnalyzerEngine) -> None:
        self.analyzer = analyzer

    @classmethod
    def load(cls) -> Detector:
        """Load spaCy and presidio (a few seconds). Raises DetectorUnavailable with the reason."""
        try:
            use_bundled_suffix_list()
            nlp = load_spacy_pipeline(exclude=UNUSED_SPACY_COMPONENTS)
            registry = RecognizerRegistry(recognizers=[*presidio_recognizers(), *our_recognizers()], supported_languages=["en"])
            analyzer = AnalyzerEngine(registry=registry, nlp_engine=spacy_engine(nlp, NER_CONFIGURATION),
                                      supported_languages=["en"], default_score_threshold=SCORE_THRESHOLD)
        except Exception as error:  # any failure to load means no detection: fail closed, say why
            raise DetectorUnavailable(f"detector cannot load: {type(error).__name__}: {error}") from error
        return cls(analyzer)

    def analyze(self, text: str) -> list[Finding]:
        """Findings in `text`, sorted by start, non-overlapping."""
        _require_text(text)
        if not text.strip():
            return []
        return self._findings(self.analyzer.analyze(text=text, language="en"))

    def analyze_many(self, texts: list[str]) -> list[list[Finding]]:
        """`analyze` for each text, with spaCy batching the texts."""
        for text in texts:
            _require_text(text)
        batch = self.analyzer.nlp_engine.process_batch(texts, language="en", batch_size=BATCH_SIZE)
        return [
            self._findings(self.analyzer.analyze(text=text, language="en", nlp_artifacts=artifacts)) if text.strip() else []
            for text, artifacts in batch
        ]

    @staticmethod
    def _findings(results: list[RecognizerResult]) -> list[Finding]:
        findings = [
            Finding(r.start, r.end, r.entity_type, float(r.score),
                    (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "unknown"))
            for r in results if r.entity_type in ENTITY_TYPES
        ]
        return resolve_overlaps(findings)


def presidio_recognizers() -> list:
    """Presidio's own e-mail (validated by tldextract, offline), URL and IP recognizers.

    E-mail scores high so that a whole address wins over the URL-like domain inside it.
    """
    email_patterns = [Pattern(p.name, p.regex, 0.9) for p in EmailRecognizer.PATTERNS]
    return [EmailRecognizer(patterns=email_patterns), UrlRecognizer(), IpRecognizer()]


def stock_presidio_analyzer(nlp: Language | None = None) -> AnalyzerEngine:
    """Stock presidio (default recognizers and NER mapping) on the same spaCy model, for comparison."""
    use_bundled_suffix_list()
    return AnalyzerEngine(nlp_engine=spacy_engine(nlp or load_spacy_pipeline()), supported_languages=["en"])


def _require_text(text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"detector input must be str, got {type(text).__name__}")
