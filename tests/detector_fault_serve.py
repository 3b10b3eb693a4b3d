"""`appliance serve` whose detector crashes on texts holding a marker word, for the load suite's fail-closed
test. Test harness only (nothing in the appliance can load it):

    python -m tests.detector_fault_serve MARKER serve --data-dir D ...

The real detector is loaded as usual; presidio's public `add_recognizer` then gives it one more
recognizer, which raises on any text containing MARKER, as a crashing recognizer or NLP component
would. Everything else (spaCy, our recognizers, the pipeline's handling of the failure) is the real code.
"""
from __future__ import annotations

import sys

from appliance.cli.main import app  # first: installs the egress guard before anything else is imported

from presidio_analyzer import EntityRecognizer  # noqa: E402
from presidio_analyzer.nlp_engine import NlpArtifacts  # noqa: E402

from policies.detect import Detector  # noqa: E402

FAULT_MESSAGE = "injected recognizer fault"


class CrashOnMarker(EntityRecognizer):
    """A recognizer that raises on any text containing `marker`, and finds nothing in any other."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        super().__init__(supported_entities=["FAULT_PROBE"], name="CrashOnMarker", supported_language="en")

    def load(self) -> None:
        """Nothing to load."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list:
        if self.marker in text:
            raise RuntimeError(FAULT_MESSAGE)
        return []


def crash_on(marker: str) -> None:
    """Make every detector loaded from now on crash on texts containing `marker`."""
    load = Detector.load.__func__  # type: ignore[attr-defined]

    def load_with_fault(cls: type[Detector]) -> Detector:
        detector = load(cls)
        detector.analyzer.registry.add_recognizer(CrashOnMarker(marker))
        return detector

    Detector.load = classmethod(load_with_fault)  # type: ignore[method-assign, assignment]


if __name__ == "__main__":
    crash_on(sys.argv.pop(1))
    app(prog_name="appliance")
