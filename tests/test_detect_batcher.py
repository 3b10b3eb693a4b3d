"""The shared detector thread (policies/detect/batcher.py): scans asked for together are answered as if
each ran alone, a text the detector fails on fails only its own caller, and a closed batcher refuses."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from presidio_analyzer import EntityRecognizer
from presidio_analyzer.nlp_engine import NlpArtifacts

from policies.detect import Detector, DetectorUnavailable
from policies.detect.batcher import ScanBatcher

REQUESTS = [
    (["Patient John Smith, MRN 4829113, seen on 03/04/2021."], "local"),
    (["Card 4111 1111 1111 1111 exp 09/27", "call me on 020 7946 0958"], "external"),
    (["My SSN is 219-09", "-9998 thanks"], "external"),  # split across messages: found only joined
    (["Email jane.doe@example.org about the results."], "internal"),
    (["Once upon a time there was a quiet lighthouse."], "local"),
    (["MRN:", "4829113"], "internal"),
    ([""], "local"),
] * 3


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.load()


@pytest.fixture
def batcher(detector: Detector) -> Iterator[ScanBatcher]:
    shared = ScanBatcher(detector)
    yield shared
    shared.close()


def batch_sizes(detector: Detector, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of requests in each `scan_batch` call from now on (the real method still runs)."""
    sizes: list[int] = []
    real = detector.scan_batch

    def counted(requests):  # type: ignore[no-untyped-def]
        sizes.append(len(requests))
        return real(requests)

    monkeypatch.setattr(detector, "scan_batch", counted)
    return sizes


def test_scans_asked_together_run_together_and_equal_scans_alone(
        detector: Detector, batcher: ScanBatcher, monkeypatch: pytest.MonkeyPatch) -> None:
    alone = [detector.scan_messages(texts, zone) for texts, zone in REQUESTS]
    sizes = batch_sizes(detector, monkeypatch)
    futures = [batcher.submit(texts, zone) for texts, zone in REQUESTS]
    together = [future.result(timeout=60) for future in futures]
    assert max(sizes) > 1  # the asks queued while the first batch ran went in one batch
    assert sum(sizes) == len(REQUESTS)
    assert [[(s.text, s.findings) for s in scans] for scans in together] == \
           [[(s.text, s.findings) for s in scans] for scans in alone]
    split = together[2]
    assert all(any(f.entity_type == "US_SSN" for f in scan.findings) for scan in split)


class CrashOnMarker(EntityRecognizer):
    """Raises on any text containing the marker, as a crashing recognizer would."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["FAULT_PROBE"], name="CrashOnMarker", supported_language="en")

    def load(self) -> None:
        """Nothing to load."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list:
        if "zebra" in text:
            raise RuntimeError("injected recognizer fault")
        return []


def test_a_text_the_detector_fails_on_fails_only_its_own_ask(detector: Detector, batcher: ScanBatcher,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    detector.analyzer.registry.add_recognizer(CrashOnMarker())
    try:
        sizes = batch_sizes(detector, monkeypatch)
        texts = [f"Note {i}: patient Mary Jones, phone 020 7946 0958." for i in range(6)]
        texts[3] = "Tell me about the zebra at the zoo."
        futures = [batcher.submit([text], "local") for text in texts]
        with pytest.raises(RuntimeError, match="injected recognizer fault"):
            futures[3].result(timeout=60)
        for index, future in enumerate(futures):
            if index != 3:
                [scan] = future.result(timeout=60)
                assert {f.entity_type for f in scan.findings} >= {"PERSON", "PHONE_NUMBER"}
        assert max(sizes) > 1  # the failing ask shared a batch, which was then run ask by ask
    finally:
        detector.analyzer.registry.remove_recognizer("CrashOnMarker")
    assert batcher.analyze("SSN 219-09-9998")[0].entity_type == "US_SSN"  # the thread still serves


def test_a_closed_batcher_refuses_new_scans(detector: Detector) -> None:
    batcher = ScanBatcher(detector)
    queued = batcher.submit(["Patient John Smith"], "local")
    batcher.close()
    assert queued.result(timeout=60)[0].findings  # asked before closing: answered
    with pytest.raises(DetectorUnavailable, match="shut down"):
        batcher.submit(["Patient John Smith"], "local").result(timeout=5)
