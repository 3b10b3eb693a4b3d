"""The batch engine's pure parts: an answer's text cut at stop strings token by token, and fair turns."""
from __future__ import annotations

from dataclasses import dataclass

from appliance.engine.admission import FairQueue
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
