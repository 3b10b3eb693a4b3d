"""URLs: presidio's URL recognizer, each finding extended to the end of the link it starts
("https://x.biz/patients/1" is found whole, not cut at a TLD prefix as "https://x.bi")."""
from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import UrlRecognizer

LINK_REST = re.compile(r"[^\s<>\"'`]*")
TRAILING = ".,;:!?)]}'\""


class WholeUrlRecognizer(UrlRecognizer):
    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None,
                regex_flags: int | None = None) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for result in results:
            rest = LINK_REST.match(text, result.end)
            result.end = max(result.end, len(text[:rest.end()].rstrip(TRAILING))) if rest else result.end
        return results
