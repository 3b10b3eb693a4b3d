"""One generation inside the batch: its slot, how much of its prompt is in the KV cache, its sampler and
its answer so far.

A prompt is evaluated in chunks from the first token its slot does not already hold (batching.py).
Every kernel computes a token's numbers row by row (batch.py), so how the prompt is cut into chunks, or
which prefix was evaluated for an earlier request, does not change them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import llama_cpp
import numpy as np

from appliance.engine.sampling import TokenSampler, best, log_softmax, raw_logits
from appliance.engine.text import Piece, TextStream
from appliance.routing.base import StreamDelta, TokenLogprob

if TYPE_CHECKING:
    from appliance.engine.runtime import LlamaRuntime
    from appliance.engine.scheduler import Job


class Sequence:
    """A job admitted to a slot (its llama.cpp sequence id); `finish` is set once it is over."""

    def __init__(self, job: Job, slot: int, runtime: LlamaRuntime, admitted: int, *, reused: int = 0) -> None:
        self.job = job
        self.slot = slot
        self.admitted = admitted  # the order jobs started in: the oldest newcomer's prompt goes first
        self._runtime = runtime
        self._prompt = job.prompt.tokens
        self._evaluated = self._reused = reused  # a prefix already in the slot's KV cells (BatchWorker._reuse)
        self._sampled = 0
        self._next: int | None = None
        self._text = TextStream([*job.prompt.stop, *job.sampling.stop])
        self.finish: str | None = None
        self._sampler = TokenSampler(runtime.vocab, runtime.n_vocab, job.sampling)

    @property
    def prefilling(self) -> bool:
        return self._evaluated < len(self._prompt)

    @property
    def evaluated_prompt(self) -> list[int]:
        """The prompt tokens whose KV cells are in the slot."""
        return self._prompt[:self._evaluated]

    def next_chunk(self, size: int) -> tuple[list[int], int]:
        """The next prompt chunk to evaluate and the position of its first token."""
        start = self._evaluated
        chunk = self._prompt[start:start + size]
        self._evaluated += len(chunk)
        return chunk, start

    @property
    def next_token(self) -> tuple[int, int]:
        """The last sampled token and its position: what the next decode step feeds for this sequence."""
        assert self._next is not None
        return self._next, len(self._prompt) + self._sampled - 1

    def take_output(self, ctx: llama_cpp.llama_context_p, output: int) -> list[StreamDelta]:
        """Sample from batch output `output`; the deltas to send (the last one final when it ended)."""
        distribution = self._distribution(ctx, output)
        token = self._sampler.sample(ctx, output)
        self._sampled += 1
        pieces: list[Piece] = []
        if self._runtime.is_end_of_generation(token):
            self.finish = "stop"
        else:
            pieces = self._text.add(self._runtime.token_bytes(token), self._entry(token, distribution))
            if self._text.stopped:
                self.finish = "stop"
            elif self._sampled >= self.job.prompt.max_tokens:
                self.finish = "length"
        self._next = None if self.finish else token
        deltas = [StreamDelta(text="".join(p.text for p in pieces), logprobs=[p.logprob for p in pieces if p.logprob])]
        if self.finish:
            deltas.append(self.ending(self.finish))
        return [d for d in deltas if d.text or d.logprobs or d.finish_reason]

    def ending(self, reason: str) -> StreamDelta:
        """The final delta: what was still held back, the finish reason and the token counts."""
        held = [] if self._text.stopped else self._text.finish()
        return StreamDelta(text="".join(p.text for p in held), finish_reason=reason, prompt_tokens=len(self._prompt),
                           completion_tokens=self._sampled, logprobs=[p.logprob for p in held if p.logprob],
                           cached_prompt_tokens=self._reused)

    def _distribution(self, ctx: llama_cpp.llama_context_p, output: int) -> np.ndarray | None:
        """The model's log probabilities at this output, when the request asked for logprobs."""
        if self.job.sampling.top_logprobs is None:
            return None
        return log_softmax(raw_logits(ctx, output, self._runtime.n_vocab))

    def _entry(self, token: int, distribution: np.ndarray | None) -> TokenLogprob | None:
        """The sampled token's log probability and the most likely alternatives (text set by TextStream)."""
        if distribution is None:
            return None
        count = self.job.sampling.top_logprobs or 0
        alternatives = tuple((self._runtime.token_text(t), float(distribution[t])) for t in best(distribution, count))
        return TokenLogprob("", float(distribution[token]), alternatives)

    def close(self) -> None:
        self._sampler.close()

