"""Streaming answer guard with the real detector: no sensitive value escapes, wherever chunks split it."""
from __future__ import annotations

from typing import Iterable

import pytest

from policies.detect import Detector
from policies.policy_engine import PolicyEngine
from policies.findings import Finding
from policies.pack import load_packs
from policies.stream import PolicyBlocked, StreamGuard

ENGINE = PolicyEngine(load_packs())
HOLDBACK, STEP, CONTEXT = 40, 4, 48
TRACK_HOLDBACK = 96  # the default; a track 1 record is up to 79 characters
LEAD = "The answer follows below, as requested by the care team in the message above. "
TAIL = " Please check the chart before the next visit and call back."


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.load()


class CountingDetect:
    """The real detector, remembering how long each scanned window was."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.window_lengths: list[int] = []

    def __call__(self, text: str) -> list[Finding]:
        self.window_lengths.append(len(text))
        return self.detector.analyze(text)


def guard(detect, purpose: str, **kwargs) -> StreamGuard:
    return StreamGuard(detect, ENGINE, purpose=purpose, zone="local", holdback_chars=HOLDBACK,
                       scan_step_chars=STEP, context_chars=CONTEXT, **kwargs)


def run(g: StreamGuard, deltas: Iterable[str]) -> str:
    return "".join(g.feed(d) for d in deltas) + g.finish()


# (id, sentence, sensitive value, what the client must see instead, purpose)
REDACTED = [
    ("ssn", "Her SSN is 536-22-8761 per the intake form.", "536-22-8761", "[US_SSN_1]", "research"),
    ("email", "Write to jane.doe@example.org for results.", "jane.doe@example.org", "[EMAIL_ADDRESS_1]", "research"),
    ("pan", "The card 4539 1488 0343 6467 was charged.", "4539 1488 0343 6467", "4539 14** **** 6467", "treatment"),
]


@pytest.mark.parametrize(("sentence", "value", "replacement", "purpose"), [c[1:] for c in REDACTED],
                         ids=[c[0] for c in REDACTED])
def test_value_split_at_every_position_never_escapes(detector: Detector, sentence: str, value: str,
                                                     replacement: str, purpose: str) -> None:
    answer = LEAD + sentence + TAIL
    expected = LEAD + sentence.replace(value, replacement) + TAIL
    assert run(guard(detector.analyze, purpose), [answer]) == expected, "caught when it arrives in one piece"
    start = answer.index(value)
    for cut in range(start - HOLDBACK, start + len(value) + 1):
        out = run(guard(detector.analyze, purpose), [answer[:cut], answer[cut:]])
        # equality, not just `value not in out`: a released prefix such as "536-22-87" is a leak too
        assert out == expected, f"split at {cut}"


@pytest.mark.parametrize(("sentence", "value", "replacement", "purpose"), [c[1:] for c in REDACTED],
                         ids=[c[0] for c in REDACTED])
def test_token_sized_deltas_at_every_phase(detector: Detector, sentence: str, value: str, replacement: str,
                                          purpose: str) -> None:
    answer = LEAD + sentence + TAIL
    for phase in range(4):
        deltas = [answer[:phase]] + [answer[i:i + 4] for i in range(phase, len(answer), 4)]
        out = run(guard(detector.analyze, purpose), deltas)
        assert out == LEAD + sentence.replace(value, replacement) + TAIL, f"phase {phase}"


def test_digits_of_a_split_pan_never_appear_in_order(detector: Detector) -> None:
    """Not even the unmasked middle digits may be released ahead of the mask."""
    answer = LEAD + "Card 4539148803436467 on file." + TAIL
    for cut in range(len(LEAD), len(LEAD) + 30):
        emitted = []
        g = guard(detector.analyze, "treatment")
        emitted += [g.feed(answer[:cut]), g.feed(answer[cut:]), g.finish()]
        out = "".join(emitted)
        assert "4539148803436467" not in out and "8803" not in out, f"split at {cut}"
        assert "453914******6467" in out


def test_scans_stay_bounded_instead_of_rescanning_the_whole_answer(detector: Detector) -> None:
    detect = CountingDetect(detector)
    answer = (LEAD + "Her SSN is 536-22-8761. " + TAIL) * 6
    deltas = [answer[i:i + 4] for i in range(0, len(answer), 4)]
    out = run(guard(detect, "research"), deltas)
    assert "536-22-8761" not in out and out.count("[US_SSN_1]") == 6
    # a window holds left context, the holdback, one scan step, one delta, and at most one identifier
    # (with its label) that straddled the cut and kept the guard from releasing (never the answer so far)
    assert max(detect.window_lengths) <= CONTEXT + HOLDBACK + STEP + 4 + len("SSN is 536-22-8761")
    assert len(answer) > 3 * max(detect.window_lengths)
    assert len(detect.window_lengths) < len(deltas)


def test_blocked_value_raises_and_is_never_emitted(detector: Detector) -> None:
    """Track data is longer than the redaction tests' window: the guard needs a holdback that fits it."""
    answer = LEAD + "Track data %B4539148803436467^ROE/JANE^2812101000000000000?" + TAIL
    with pytest.raises(PolicyBlocked) as blocked:
        run(guard(detector.analyze, "treatment"), [answer])
    assert any(r.rule_id == "sad-never" for r in blocked.value.fired)
    assert "4539" not in str(blocked.value) and "ROE" not in str(blocked.value)
    start = answer.index("%B")
    for cut in range(start - TRACK_HOLDBACK, start + 12):
        g = StreamGuard(detector.analyze, ENGINE, purpose="treatment", zone="local", holdback_chars=TRACK_HOLDBACK,
                        scan_step_chars=STEP)
        emitted = []
        with pytest.raises(PolicyBlocked):
            for delta in (answer[:cut], answer[cut:]):
                emitted.append(g.feed(delta))
            emitted.append(g.finish())
        assert "4539" not in "".join(emitted), f"split at {cut}"
        assert g.decision.action == "block"
        with pytest.raises(PolicyBlocked):
            g.feed("more")


def test_placeholders_split_across_deltas_are_restored_in_the_round_trip(detector: Detector) -> None:
    answer = LEAD + "Refer [PERSON_1] to cardiology." + TAIL
    start = answer.index("[PERSON_1]")
    for cut in range(start - 2, start + 12):
        g = StreamGuard(detector.analyze, ENGINE, purpose="treatment", zone="external",
                        placeholders={"[PERSON_1]": "Jane Roe"}, restore={"[PERSON_1]": "Jane Roe"},
                        holdback_chars=HOLDBACK, scan_step_chars=STEP)
        out = run(g, [answer[:cut], answer[cut:]])
        assert out == answer.replace("[PERSON_1]", "Jane Roe"), f"split at {cut}"


def test_answer_redaction_reuses_the_prompt_placeholders(detector: Detector) -> None:
    answer = LEAD + "Her SSN is 536-22-8761 per the intake form." + TAIL
    g = guard(detector.analyze, "research", placeholders={"[US_SSN_1]": "111-22-3333", "[US_SSN_2]": "536-22-8761"})
    out = run(g, [answer[i:i + 7] for i in range(0, len(answer), 7)])
    assert "[US_SSN_2]" in out and "536-22-8761" not in out
    assert g.placeholders["[US_SSN_2]"] == "536-22-8761"
    assert g.decision.finding_counts.get("US_SSN") == 1


def test_clean_answer_passes_through_unchanged(detector: Detector) -> None:
    answer = LEAD + "Rest, fluids, and review in two weeks." + TAIL
    g = guard(detector.analyze, "treatment")
    out = run(g, [answer[i:i + 5] for i in range(0, len(answer), 5)])
    assert out == answer
    assert g.decision.action == "allow"


def test_feeding_after_finish_is_an_error(detector: Detector) -> None:
    g = guard(detector.analyze, "treatment")
    g.finish()
    with pytest.raises(RuntimeError, match="already finished"):
        g.feed("x")


LABELLED = ("The chart lists the medical record number for this encounter is 48213377 and nothing else; "
            "please confirm it with the ward clerk before the transfer.")


def test_a_label_is_never_released_apart_from_its_value(detector: Detector) -> None:
    """A record number is found only by its label, up to ~100 characters before it: at every cut
    position of a two-delta answer the value is still redacted (default hold-back and context)."""
    answer = LEAD * 2 + LABELLED + TAIL
    expected = answer.replace("48213377", "[MEDICAL_RECORD_NUMBER_1]")
    value_end = answer.index("48213377") + len("48213377")
    for cut in range(answer.index("medical record") - 60, value_end + 1, 3):
        g = StreamGuard(detector.analyze, ENGINE, purpose="research", zone="local")
        assert run(g, [answer[:cut], answer[cut:]]) == expected, f"split at {cut}"


def test_a_whole_answer_is_checked_in_one_scan(detector: Detector) -> None:
    detect = CountingDetect(detector)
    answer = (LEAD + "Her SSN is 536-22-8761. " + TAIL) * 3
    g = StreamGuard(detect, ENGINE, purpose="research", zone="local")
    out = g.check_whole(answer)
    assert detect.window_lengths == [len(answer)]
    assert "536-22-8761" not in out and out.count("[US_SSN_1]") == 3
