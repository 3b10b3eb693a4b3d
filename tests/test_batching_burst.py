"""The batch worker on the real model: a burst of announced requests whose checks end a few milliseconds
apart starts in one prompt evaluation, and a newcomer's first token is handed over on its own, before
the step's decode (the answer guard scans the first word while the next token is decoded)."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from appliance.engine.batching import BatchWorker
from appliance.engine.default_model import locate_default_model
from appliance.engine.runtime import LlamaRuntime, SamplingParams
from appliance.engine.scheduler import Job, submit
from appliance.routing.base import ChatMessage, StreamDelta

QUESTIONS = ["Name a colour.", "List three fruits.", "What is the boiling point of water?", "Say hello."]
Entry = tuple[int, int, int, bool]


@pytest.fixture(scope="module")
def worker() -> Iterator[BatchWorker]:
    runtime = LlamaRuntime(locate_default_model(), n_ctx=512, n_threads=2, n_batch=256)
    running = BatchWorker("burst", runtime, slots=4, max_queue=4, retry_after=1, threads=2, prefill_chunk=256)
    yield running
    running.stop()


@pytest.fixture
def evaluations(worker: BatchWorker, monkeypatch: pytest.MonkeyPatch) -> list[list[Entry]]:
    """The entries of every `llama_decode` the worker runs from now on (the real decode still runs)."""
    seen: list[list[Entry]] = []
    real = worker._context.decode

    def recorded(entries: list[Entry]) -> None:
        seen.append(list(entries))
        real(entries)

    monkeypatch.setattr(worker._context, "decode", recorded)
    return seen


def job_for(worker: BatchWorker, question: str, *, logprobs: bool = False) -> Job:
    prompt = worker.runtime.prepare_chat([ChatMessage("user", question)], 8)
    return submit(worker, prompt, SamplingParams(temperature=0, top_logprobs=0 if logprobs else None))


async def deltas_of(job: Job) -> list[StreamDelta]:
    return [delta async for delta in job.deltas()]


def test_an_announced_burst_is_evaluated_in_one_prompt_evaluation(worker: BatchWorker,
                                                                   evaluations: list[list[Entry]]) -> None:
    async def burst() -> list[list[StreamDelta]]:
        announced = [worker.expect() for _ in QUESTIONS]  # their checks are running
        jobs = []
        for question, arrived in zip(QUESTIONS, announced):
            await asyncio.sleep(0.02)  # the checks end 20 ms apart
            jobs.append(job_for(worker, question))
            arrived()
        return await asyncio.gather(*(deltas_of(job) for job in jobs))

    answers = asyncio.run(burst())
    assert all(deltas[-1].finish_reason in ("stop", "length") for deltas in answers)
    first = evaluations[0]
    assert {slot for _, _, slot, _ in first} == {0, 1, 2, 3}  # every prompt in the first evaluation
    assert sum(wants_logits for *_, wants_logits in first) == len(QUESTIONS)  # each prompt's last token


def test_a_newcomers_first_token_is_handed_over_before_the_next_is_decoded(worker: BatchWorker,
                                                                            evaluations: list[list[Entry]]) -> None:
    async def lone() -> list[StreamDelta]:
        return await deltas_of(job_for(worker, "Name a colour.", logprobs=True))

    deltas = asyncio.run(lone())
    assert len({slot for _, _, slot, _ in evaluations[0]}) == 1  # its prompt (or the part not kept from before)
    assert len(deltas[0].logprobs) == 1  # token 1 was handed over before token 2 was decoded
    assert sum(len(d.logprobs) for d in deltas) == deltas[-1].completion_tokens
