"""Streaming answer guard with the real detector: no sensitive value escapes, wherever chunks split it.

The guards run with the inert-word fast path on (as the pipeline runs them) unless a test says otherwise."""
from __future__ import annotations

import re
from collections.abc import Iterable

import pytest

from policies.detect import Detector
from policies.findings import Finding
from policies.pack import load_packs
from policies.policy_engine import PolicyEngine
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
        self.windows: list[str] = []

    def __call__(self, text: str) -> list[Finding]:
        self.window_lengths.append(len(text))
        self.windows.append(text)
        return self.detector.analyze(text)


def guard(detector: Detector, purpose: str, *, detect=None, fast: bool = True, **kwargs) -> StreamGuard:
    return StreamGuard(detect or detector.analyze, ENGINE, purpose=purpose, zone="local", holdback_chars=HOLDBACK,
                       scan_step_chars=STEP, context_chars=CONTEXT,
                       inert_prefix=detector.inert_prefix if fast else None, **kwargs)


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
    assert run(guard(detector, purpose), [answer]) == expected, "caught when it arrives in one piece"
    start = answer.index(value)
    for cut in range(start - HOLDBACK, start + len(value) + 1):
        out = run(guard(detector, purpose), [answer[:cut], answer[cut:]])
        # equality, not just `value not in out`: a released prefix such as "536-22-87" is a leak too
        assert out == expected, f"split at {cut}"


@pytest.mark.parametrize(("sentence", "value", "replacement", "purpose"), [c[1:] for c in REDACTED],
                         ids=[c[0] for c in REDACTED])
def test_token_sized_deltas_at_every_phase(detector: Detector, sentence: str, value: str, replacement: str,
                                          purpose: str) -> None:
    answer = LEAD + sentence + TAIL
    for phase in range(4):
        deltas = [answer[:phase]] + [answer[i:i + 4] for i in range(phase, len(answer), 4)]
        out = run(guard(detector, purpose), deltas)
        assert out == LEAD + sentence.replace(value, replacement) + TAIL, f"phase {phase}"


def test_digits_of_a_split_pan_never_appear_in_order(detector: Detector) -> None:
    """Not even the unmasked middle digits may be released ahead of the mask."""
    answer = LEAD + "Card 4539148803436467 on file." + TAIL
    for cut in range(len(LEAD), len(LEAD) + 30):
        emitted = []
        g = guard(detector, "treatment")
        emitted += [g.feed(answer[:cut]), g.feed(answer[cut:]), g.finish()]
        out = "".join(emitted)
        assert "4539148803436467" not in out and "8803" not in out, f"split at {cut}"
        assert "453914******6467" in out


def test_scans_stay_bounded_instead_of_rescanning_the_whole_answer(detector: Detector) -> None:
    detect = CountingDetect(detector)
    answer = (LEAD + "Her SSN is 536-22-8761. " + TAIL) * 6
    deltas = [answer[i:i + 4] for i in range(0, len(answer), 4)]
    out = run(guard(detector, "research", detect=detect), deltas)
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
        run(guard(detector, "treatment"), [answer])
    assert any(r.rule_id == "sad-never" for r in blocked.value.fired)
    assert "4539" not in str(blocked.value) and "ROE" not in str(blocked.value)
    start = answer.index("%B")
    for cut in range(start - TRACK_HOLDBACK, start + 12):
        g = StreamGuard(detector.analyze, ENGINE, purpose="treatment", zone="local", holdback_chars=TRACK_HOLDBACK,
                        scan_step_chars=STEP, inert_prefix=detector.inert_prefix)
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
                        holdback_chars=HOLDBACK, scan_step_chars=STEP, inert_prefix=detector.inert_prefix)
        out = run(g, [answer[:cut], answer[cut:]])
        assert out == answer.replace("[PERSON_1]", "Jane Roe"), f"split at {cut}"


def test_answer_redaction_reuses_the_prompt_placeholders(detector: Detector) -> None:
    answer = LEAD + "Her SSN is 536-22-8761 per the intake form." + TAIL
    g = guard(detector, "research", placeholders={"[US_SSN_1]": "111-22-3333", "[US_SSN_2]": "536-22-8761"})
    out = run(g, [answer[i:i + 7] for i in range(0, len(answer), 7)])
    assert "[US_SSN_2]" in out and "536-22-8761" not in out
    assert g.placeholders["[US_SSN_2]"] == "536-22-8761"
    assert g.decision.finding_counts.get("US_SSN") == 1


def test_clean_answer_passes_through_unchanged(detector: Detector) -> None:
    answer = LEAD + "Rest, fluids, and review in two weeks." + TAIL
    g = guard(detector, "treatment")
    out = run(g, [answer[i:i + 5] for i in range(0, len(answer), 5)])
    assert out == answer
    assert g.decision.action == "allow"


def test_feeding_after_finish_is_an_error(detector: Detector) -> None:
    g = guard(detector, "treatment")
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
        g = StreamGuard(detector.analyze, ENGINE, purpose="research", zone="local", inert_prefix=detector.inert_prefix)
        assert run(g, [answer[:cut], answer[cut:]]) == expected, f"split at {cut}"


def test_a_whole_answer_is_checked_in_one_scan(detector: Detector) -> None:
    detect = CountingDetect(detector)
    answer = (LEAD + "Her SSN is 536-22-8761. " + TAIL) * 3
    g = StreamGuard(detect, ENGINE, purpose="research", zone="local", inert_prefix=detector.inert_prefix)
    out = g.check_whole(answer)
    assert detect.window_lengths == [len(answer)]
    assert "536-22-8761" not in out and out.count("[US_SSN_1]") == 3


def tokens(text: str) -> list[str]:
    """Model-like deltas: each word with the space before it (" upon", " a", ...)."""
    return re.findall(r"\s*\S+", text) + ([text[len(text.rstrip()):]] if text != text.rstrip() else [])


STORY = ("Once upon a time, there was a little girl who lived near the sea with her grandmother, "
         "and every morning they walked along the shore to collect shells before breakfast. ") * 2


def test_a_story_opening_comes_out_before_the_holdback_fills(detector: Detector) -> None:
    """Production window (holdback 96 + step 128): the opening words are released after one scan of
    their own, while only a few characters are pending; nothing leaves unscanned, and the whole answer
    still comes out unchanged."""
    detect = CountingDetect(detector)
    g = StreamGuard(detect, ENGINE, purpose="treatment", zone="local", scan_step_chars=128,
                    inert_prefix=detector.inert_prefix)
    released, fed, first_at = "", "", None
    for delta in tokens(STORY):
        out = g.feed(delta)
        released, fed = released + out, fed + delta
        if out:
            assert detect.windows and out in detect.windows[-1], "released only after a scan that saw it"
            first_at = len(fed) if first_at is None else first_at
    assert first_at is not None and first_at <= len("Once upon a")
    assert released.startswith("Once ")
    assert released + g.finish() == STORY
    assert g.decision.action == "allow"


def test_without_the_fast_path_nothing_is_released_before_holdback_and_step(detector: Detector) -> None:
    g = StreamGuard(detector.analyze, ENGINE, purpose="treatment", zone="local", scan_step_chars=128)
    fed = ""
    for delta in tokens(STORY):
        out = g.feed(delta)
        fed += delta
        if len(fed) < 96 + 128:
            assert out == ""
    assert g.finish() and len(fed) == len(STORY)


# (released text before, text, its inert prefix): names, number words, months, labels, digits,
# e-mails and URLs end the prefix; so does a word that is still growing or starts mid-word.
PREFIXES = [
    ("", "the answer is will brown and ", "the answer is "),
    ("", "Will Brown came by ", ""),
    ("", "In the heart of the desert, so in my ", "In the heart of the desert, so in my "),  # everyday words
    ("", "Brown said that ", ""),  # on the surname list: a capitalised one is held
    ("", "she may come ", "she "),
    ("", "and then Jane came ", "and then "),
    ("", "it is five five five one two one two ", "it is "),
    ("", "it was march ", "it was "),
    ("", "and may ", "and "),
    ("", "what about the phone number ", "what about the "),
    ("", "his mrn is ", "his "),
    ("", "her name and dob ", "her "),
    ("", "there are 12 ", "there are "),
    ("", "write to jane.doe@example.org today ", "write to "),
    ("", "go to https://example.org/x today ", "go to "),
    ("", "go to www.example.org today ", "go to "),
    ("", "A. Lee came ", ""),
    ("it was near ", "St. Louis ", ""),
    ("", "what about o'brien ", "what about "),
    ("", "we can't say what you don't know", "we can't say what you don't "),
    ("", "Once upon a time", "Once upon a "),
    ("the pati", "ent was here ", ""),
    ("was here. ", "The answer was near ", "The answer was "),
    ("was here ", "The answer was ", ""),
    ("said\n", "it's fine ", ""),
    ("this ", "patient's chart ", ""),
    ("a ", "girl's shoes were red ", "girl's shoes were "),
]


@pytest.mark.parametrize(("after", "text", "expected"), PREFIXES, ids=[c[1].strip() for c in PREFIXES])
def test_inert_prefix_stops_at_anything_that_may_be_an_identifier(detector: Detector, after: str, text: str,
                                                                  expected: str) -> None:
    assert text[:detector.inert_prefix(text, after=after)] == expected


# (purpose, answer, value): an identifier after inert words is caught exactly as before
AFTER_INERT = [
    ("research", "Once upon a time, there was a patient whose SSN is 536-22-8761 and who lived well. ", "536-22-8761"),
    ("research", "You can always reach her on the phone at 415-867-5309 in the evening. ", "415-867-5309"),
    ("research", "It was a quiet day, and the nurse said that Jane Roe should rest at home today. ", "Jane Roe"),
    ("research", "there was a long wait and then the answer was will brown for the form. ", "will brown"),
    ("research", LABELLED, "48213377"),
]


@pytest.mark.parametrize(("purpose", "answer", "value"), AFTER_INERT, ids=[c[2] for c in AFTER_INERT])
def test_identifiers_after_inert_words_are_caught_as_before(detector: Detector, purpose: str, answer: str,
                                                            value: str) -> None:
    """Word by word with the fast path, the client gets what it gets without it and without streaming."""
    whole = StreamGuard(detector.analyze, ENGINE, purpose=purpose, zone="local").check_whole(answer)
    fast, slow = guard(detector, purpose), guard(detector, purpose, fast=False)
    assert run(fast, tokens(answer)) == run(slow, tokens(answer)) == whole
    assert fast.decision.finding_counts == slow.decision.finding_counts


def test_redacted_values_after_inert_words_never_appear(detector: Detector) -> None:
    for purpose, answer, value in AFTER_INERT[:3] + AFTER_INERT[4:]:
        assert value not in run(guard(detector, purpose), tokens(answer)), value


def test_a_phone_label_is_released_with_its_value_not_before(detector: Detector) -> None:
    answer = "Sure, you can call the clinic phone 415-867-5309 in the evening." + TAIL
    g = guard(detector, "research")
    chunks = [c for c in [g.feed(d) for d in tokens(answer)] + [g.finish()] if c]
    labelled = next(i for i, c in enumerate(chunks) if "call" in c)
    early = "".join(chunks[:labelled])
    assert early and "Sure, you can ".startswith(early), "inert words went out early, the label did not"
    assert "[PHONE_NUMBER_1]" in "".join(chunks[labelled:]) and "415" not in "".join(chunks)


def test_a_blocked_value_after_inert_words_still_blocks(detector: Detector) -> None:
    answer = "Here is the data you asked for, as it was read: %B4539148803436467^ROE/JANE^2812101000000000000? " + TAIL
    g = StreamGuard(detector.analyze, ENGINE, purpose="treatment", zone="local", holdback_chars=TRACK_HOLDBACK,
                    scan_step_chars=STEP, inert_prefix=detector.inert_prefix)
    emitted = []
    with pytest.raises(PolicyBlocked):
        for delta in tokens(answer):
            emitted.append(g.feed(delta))
        g.finish()
    assert "".join(emitted).startswith("Here is the ")
    assert "4539" not in "".join(emitted) and "ROE" not in "".join(emitted)


def test_after_a_scan_the_held_text_starts_at_a_word_and_inert_words_go_on(detector: Detector) -> None:
    """A name stops the fast path until the window is scanned; the scan's cut lands on a word start and
    the inert words after it are released at once, so only the last word or so stays held."""
    story = ("Once upon a time, Captain Elias Marwood kept the lighthouse on the rock, and every night he "
             "climbed the stairs to light the lamp for the ships that passed along the coast in the dark. ") * 3
    g = StreamGuard(detector.analyze, ENGINE, purpose="treatment", zone="local", scan_step_chars=128,
                    inert_prefix=detector.inert_prefix)
    released, fed, scans_seen = "", "", 0
    for delta in tokens(story):
        out = g.feed(delta)
        released, fed = released + out, fed + delta
        if len(out) > 40:  # a scan released the window
            scans_seen += 1
            held = fed[len(released):]
            assert held[:1].isspace() or fed[len(released) - 1].isspace(), "the cut is at a word boundary"
    assert scans_seen >= 1
    assert released + g.finish() == story


def test_the_first_word_is_scanned_on_its_own_token_and_released_by_the_next(detector: Detector) -> None:
    """The first text is scanned as soon as it arrives (while the next token is decoded); the next token's
    leading whitespace shows the word is complete and it goes out with no second scan. The whitespace
    itself, not yet scanned, stays held."""
    detect = CountingDetect(detector)
    g = StreamGuard(detect, ENGINE, purpose="treatment", zone="local", scan_step_chars=128,
                    inert_prefix=detector.inert_prefix)
    assert g.feed("Once") == ""  # may still grow into another word
    assert detect.windows == ["Once"]
    assert g.feed(" upon") == "Once"
    assert detect.windows == ["Once"]
    assert g.feed(" a") == ""  # " upon" was never scanned: it waits for the next scan
    released = "Once" + "".join(g.feed(d) for d in tokens(STORY[len("Once upon a"):])) + g.finish()
    assert released == STORY


@pytest.mark.parametrize("first, second", [("The", "odore"), ("Once", " Upon"), ("Ann", "ie")])
def test_a_first_token_the_next_one_extends_or_names_is_not_released(detector: Detector, first: str,
                                                                      second: str) -> None:
    """A first word that grows ("The" + "odore") or is followed by a capitalised word ("Once Upon": a name
    may begin) is held, although it was scanned."""
    g = StreamGuard(CountingDetect(detector), ENGINE, purpose="treatment", zone="local", scan_step_chars=128,
                    inert_prefix=detector.inert_prefix)
    assert g.feed(first) == ""
    assert g.feed(second) == ""
    assert g.feed(" Smith was seen") == ""
