"""Continuous batching seen from clients: an answer is the same whether its request ran alone or decoded
together with others (temperature 0, and a seeded draw), for several concurrent mixes."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.appliance_server import ApplianceServer, init_data_dir

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # a shared 2-core machine can be slow
MODEL = "smollm2-135m-instruct"
CONFIG = """
[engine]
context_length = 1024
parallel = 4
max_queue = 8
prefill_chunk = 32
"""
QUESTIONS = [
    ("Name a colour.", 8),
    (("Write a short paragraph about the sea, the harbour, the boats and the people who work there "
      "every morning before the sun rises over the hills behind the old town."), 40),
    ("1, 2, 3, 4, 5,", 24),
    (("Explain in two sentences why hands are washed before and after seeing each patient on a ward, "
      "and what can happen when they are not. Keep it simple."), 32),
    ("What is the boiling point of water?", 16),
    ("List three fruits.", 20),
]


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceServer]:
    data_dir: Path = tmp_path_factory.mktemp("batching") / "data"
    with ApplianceServer(data_dir, init_data_dir(data_dir, CONFIG)) as running:
        yield running


def body(question: str, max_tokens: int, **extra: object) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
            "temperature": 0, **extra}


def ask(server: ApplianceServer, request: dict[str, object]) -> str:
    reply = httpx.post(server.base_url + "/chat/completions", json=request, headers=server.headers(), timeout=600)
    assert reply.status_code == 200, reply.text
    return reply.json()["choices"][0]["message"]["content"]


def alone(server: ApplianceServer, requests: list[dict[str, object]]) -> list[str]:
    """Each request on its own, one after the other (nothing else decoding)."""
    return [ask(server, request) for request in requests]


def together(server: ApplianceServer, requests: list[dict[str, object]]) -> list[str]:
    """All requests at once, each from its own client thread."""
    answers: list[str | None] = [None] * len(requests)

    def run(i: int) -> None:
        answers[i] = ask(server, requests[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    assert all(a is not None for a in answers)
    return answers  # type: ignore[return-value]


class Streaming(threading.Thread):
    """A streamed request that records its text; it hangs up after `hang_up_after` events if given."""

    def __init__(self, server: ApplianceServer, request: dict[str, object], hang_up_after: int | None = None) -> None:
        super().__init__(daemon=True)
        self.server, self.request, self.hang_up_after = server, {**request, "stream": True}, hang_up_after
        self.first_event = threading.Event()
        self.text = ""

    def run(self) -> None:
        events = 0
        with httpx.stream("POST", self.server.base_url + "/chat/completions", json=self.request,
                          headers=self.server.headers(), timeout=600) as reply:
            assert reply.status_code == 200
            for line in reply.iter_lines():
                if not line.startswith("data: {"):
                    continue
                events += 1
                self.first_event.set()
                choices = json.loads(line[6:])["choices"]
                self.text += (choices[0]["delta"].get("content") or "") if choices else ""
                if self.hang_up_after is not None and events >= self.hang_up_after:
                    return


def test_concurrent_answers_equal_the_answers_alone(batched: ApplianceServer) -> None:
    """Different prompt lengths and max_tokens, more requests than slots (some wait for a free one)."""
    requests = [body(q, n) for q, n in QUESTIONS]
    expected = alone(batched, requests)
    assert len(set(expected)) == len(expected)  # different questions, different answers
    assert together(batched, requests) == expected
    assert together(batched, requests[::-1]) == expected[::-1]


def test_a_request_joining_mid_generation_changes_no_answer(batched: ApplianceServer) -> None:
    long_request = body("Tell a long story about a lighthouse keeper and a storm at sea.", 80)
    joiners = [body(q, n) for q, n in QUESTIONS[:3]]
    expected_long, *expected_joiners = alone(batched, [long_request, *joiners])
    running = Streaming(batched, long_request)
    running.start()
    assert running.first_event.wait(timeout=300)
    assert together(batched, joiners) == expected_joiners
    running.join(timeout=600)
    assert running.text == expected_long


def test_a_cancelled_neighbour_changes_no_answer(batched: ApplianceServer) -> None:
    leaving = Streaming(batched, body("Describe every room of a large hospital, floor by floor.", 200),
                        hang_up_after=5)
    staying = [body(q, n) for q, n in QUESTIONS[1:4]]
    expected = alone(batched, staying)
    leaving.start()
    assert leaving.first_event.wait(timeout=300)
    assert together(batched, staying) == expected
    leaving.join(timeout=600)
    assert not leaving.is_alive()


def test_seeded_draws_are_reproducible_batched(batched: ApplianceServer) -> None:
    seeded = [body(q, n, temperature=0.9, top_p=0.95, seed=40 + i) for i, (q, n) in enumerate(QUESTIONS[:4])]
    expected = alone(batched, seeded)
    assert together(batched, seeded) == expected


def test_a_long_context_answer_equals_the_one_alone(batched: ApplianceServer) -> None:
    """Past 512 cells of context, where llama.cpp's attention kernels change path with the batch's shape
    on an F16 cache, the answer alone and next to others is still the same."""
    scenes = [f"The {colour} {thing} by the {place} was {state}." for colour in ("red", "blue", "green", "grey")
              for thing in ("boat", "house", "lamp", "gate") for place in ("harbour", "hill", "road", "river")
              for state in ("old",)]
    long_prompt = " ".join(scenes) + " Which of these was the first thing named?"
    requests = [body(long_prompt, 24), *[body(q, n) for q, n in QUESTIONS[:2]]]
    expected = alone(batched, requests)
    usage = httpx.post(batched.base_url + "/chat/completions", json=requests[0], headers=batched.headers(),
                       timeout=600).json()["usage"]
    assert usage["prompt_tokens"] > 512  # past the threshold
    assert together(batched, requests) == expected
    assert together(batched, requests[::-1]) == expected[::-1]


def test_a_prompt_prefix_the_slot_holds_is_not_evaluated_again(batched: ApplianceServer) -> None:
    """A slot keeps its last prompt's KV cells: the same prompt again evaluates only its last token, a
    different one only what follows the shared chat template; the answers do not change."""
    def usage_and_answer(request: dict[str, object]) -> tuple[dict[str, object], str]:
        reply = httpx.post(batched.base_url + "/chat/completions", json=request, headers=batched.headers(), timeout=600)
        assert reply.status_code == 200, reply.text
        return reply.json()["usage"], reply.json()["choices"][0]["message"]["content"]

    question, other = body(*QUESTIONS[3]), body(*QUESTIONS[4])
    _, first_answer = usage_and_answer(question)
    again, again_answer = usage_and_answer(question)
    assert again["prompt_tokens_details"] == {"cached_tokens": again["prompt_tokens"] - 1}
    assert again_answer == first_answer
    changed, _ = usage_and_answer(other)
    assert 0 < changed["prompt_tokens_details"]["cached_tokens"] < changed["prompt_tokens"] - 1  # the template
    metrics = httpx.get(batched.url + "/metrics", headers=batched.headers("auditor"), timeout=30).text
    assert 'appliance_tokens_total{kind="prompt_cached"' in metrics


def test_a_newcomer_takes_the_free_slot_that_holds_its_prompt(batched: ApplianceServer) -> None:
    """Two prompts ran side by side in two slots; each one asked again goes back to the slot that holds it
    (only its last token is evaluated), whichever slot is lower."""
    first, second = body(*QUESTIONS[0]), body(*QUESTIONS[5])
    together(batched, [first, second])
    for request in (second, first, second):
        reply = httpx.post(batched.base_url + "/chat/completions", json=request, headers=batched.headers(), timeout=600)
        usage = reply.json()["usage"]
        assert usage["prompt_tokens_details"]["cached_tokens"] == usage["prompt_tokens"] - 1
