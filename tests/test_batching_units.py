"""The batch engine's pure parts: an answer's text cut at stop strings token by token, fair turns, and an
idle worker gathering the jobs announced to it."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from appliance.engine.admission import Admission, FairQueue
from appliance.engine.text import TextStream
from appliance.routing.base import TokenLogprob


def feed(stream: TextStream, tokens: list[bytes]) -> tuple[str, list[str]]:
    """The text released and each released token's logprob text, for `tokens` then the end."""
    pieces = []
    for token in tokens:
        pieces += stream.add(token, TokenLogprob("", -0.5))
        if stream.stopped:  # the engine samples no further
            break
    if not stream.stopped:
        pieces += stream.finish()
    return "".join(p.text for p in pieces), [p.logprob.token for p in pieces if p.logprob]


def test_text_stops_before_a_stop_string_split_over_tokens() -> None:
    text, tokens = feed(TextStream(["<|im_end|>", "END"]), [b"Hello", b" wor", b"ld", b" E", b"N", b"D", b" more"])
    assert text == "Hello world "
    assert "".join(tokens) == text


def test_held_text_that_was_not_a_stop_is_released() -> None:
    stream = TextStream(["STOP"])
    assert [p.text for p in stream.add(b"a ST")] == []  # " ST" could begin "STOP": all of the piece is held
    assert [p.text for p in stream.add(b"ONE")] == ["a ST", "ONE"]
    assert not stream.stopped


def test_a_character_split_over_tokens_is_sent_whole_and_logprobs_cover_the_text() -> None:
    accented = "é".encode()
    text, tokens = feed(TextStream([]), [b"caf", accented[:1], accented[1:], b"!"])
    assert text == "café!"
    assert tokens == ["caf", "", "é", "!"]


def test_stop_string_inside_one_token_cuts_that_token() -> None:
    text, tokens = feed(TextStream([" 9"]), [b"7, 8,", b" 9, 10"])
    assert text == "7, 8,"
    assert tokens == ["7, 8,"]


@dataclass
class Waiting:
    client: str
    name: str
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


def test_waiting_jobs_start_round_robin_across_clients() -> None:
    queue: FairQueue[Waiting] = FairQueue()
    for name in ["a1", "a2", "a3", "a4"]:
        queue.push(Waiting("a", name))
    queue.push(Waiting("b", "b1"))
    queue.push(Waiting("c", "c1"))
    queue.push(Waiting("b", "b2"))
    order = [queue.pop().name for _ in range(len(queue))]
    assert order == ["a1", "b1", "c1", "a2", "b2", "a3", "a4"]


def test_an_idle_worker_gathers_the_jobs_announced_to_it() -> None:
    admission: Admission[Waiting] = Admission("model", capacity=8, retry_after=1)
    first_arrived = admission.expect()
    later_arrived = [admission.expect() for _ in range(2)]
    first_arrived()
    admission.submit(Waiting("a", "first"))

    def checks_end_later() -> None:
        for index, arrived in enumerate(later_arrived):
            time.sleep(0.05)
            admission.submit(Waiting("b", f"later {index}"))
            arrived()
            arrived()  # a second call changes nothing

    threading.Thread(target=checks_end_later).start()
    taken = [job.name for job in admission.take(8, wait=True) or []]
    started = time.monotonic()
    taken += [job.name for job in admission.gather(8 - len(taken), timeout=30)]
    assert taken == ["first", "later 0", "later 1"]
    assert time.monotonic() - started < 10  # it stopped waiting once both had arrived, not at the timeout


def test_gathering_ends_when_nothing_more_is_announced_or_the_time_is_up() -> None:
    admission: Admission[Waiting] = Admission("model", capacity=8, retry_after=1)
    assert admission.gather(8, timeout=30) == []  # nothing announced: no wait at all
    withdrawn = admission.expect()  # e.g. a prompt the policy blocks: its job never comes
    threading.Timer(0.05, withdrawn).start()
    assert admission.gather(8, timeout=30) == []
    admission.expect()  # never arrives
    started = time.monotonic()
    assert admission.gather(8, timeout=0.2) == []
    assert time.monotonic() - started >= 0.2
