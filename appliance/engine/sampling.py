"""Per-sequence token choice: one llama.cpp sampler chain per sequence, and log probabilities.

The chain is the one llama-cpp-python builds for a completion (logit bias, penalties over the last 64
tokens, grammar, then greedy at temperature 0, else top-k 40, top-p, min-p 0.05, temperature and a
seeded draw), so an answer is sampled the same way it was before batching. Each sequence owns its
chain (grammar state, penalty history, random state), so a seeded answer does not depend on what
it was batched with.
"""
from __future__ import annotations

import ctypes

import llama_cpp
import numpy as np

from appliance.engine.runtime import SamplingParams

TOP_K = 40
MIN_P = 0.05
PENALTY_LAST_N = 64
UNSEEDED = llama_cpp.LLAMA_DEFAULT_SEED  # llama.cpp draws a random seed for this value


def chain_seed(seed: int | None) -> int:
    """The 32-bit seed llama.cpp gets: a request's seed (any int64) mapped onto 0..2^32-2, so no
    seed turns into the "random" value."""
    return UNSEEDED if seed is None else seed % UNSEEDED


class TokenSampler:
    """One sequence's sampler chain; free it with `close` when the sequence leaves."""

    def __init__(self, vocab: llama_cpp.llama_vocab_p, n_vocab: int, params: SamplingParams) -> None:
        self._chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        try:
            self._build(vocab, n_vocab, params)
        except BaseException:
            self.close()
            raise

    def _add(self, sampler: llama_cpp.llama_sampler_p | None, what: str) -> None:
        if not sampler:
            raise ValueError(f"llama.cpp refused the {what}")
        llama_cpp.llama_sampler_chain_add(self._chain, sampler)

    def _build(self, vocab: llama_cpp.llama_vocab_p, n_vocab: int, params: SamplingParams) -> None:
        if params.logit_bias:
            biases = (llama_cpp.llama_logit_bias * len(params.logit_bias))()
            for entry, (token, bias) in zip(biases, params.logit_bias.items()):
                entry.token, entry.bias = token, bias
            self._add(llama_cpp.llama_sampler_init_logit_bias(n_vocab, len(biases), biases), "logit bias")
        self._add(llama_cpp.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, 1.0, params.frequency_penalty,
                                                         params.presence_penalty), "penalties")
        if params.grammar:
            self._add(llama_cpp.llama_sampler_init_grammar(vocab, params.grammar.encode("utf-8"), b"root"), "grammar")
        if params.temperature == 0:
            self._add(llama_cpp.llama_sampler_init_greedy(), "greedy sampler")
            return
        self._add(llama_cpp.llama_sampler_init_top_k(TOP_K), "top-k")
        self._add(llama_cpp.llama_sampler_init_top_p(params.top_p, 1), "top-p")
        self._add(llama_cpp.llama_sampler_init_min_p(MIN_P, 1), "min-p")
        self._add(llama_cpp.llama_sampler_init_temp(params.temperature), "temperature")
        self._add(llama_cpp.llama_sampler_init_dist(chain_seed(params.seed)), "seeded draw")

    def sample(self, ctx: llama_cpp.llama_context_p, output: int) -> int:
        """Choose (and accept into the chain's state) the next token from batch output `output`."""
        return int(llama_cpp.llama_sampler_sample(self._chain, ctx, output))

    def close(self) -> None:
        if self._chain:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None


def raw_logits(ctx: llama_cpp.llama_context_p, output: int, n_vocab: int) -> np.ndarray:
    """A copy of the model's logits for batch output `output` (before any sampler touched them)."""
    pointer = llama_cpp.llama_get_logits_ith(ctx, output)
    return np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,)).copy()


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log probabilities of the model's own distribution (as llama-cpp-python reported them)."""
    shifted = logits.astype(np.float64) - float(np.max(logits))
    return shifted - np.log(np.sum(np.exp(shifted)))


def best(logprobs: np.ndarray, count: int) -> list[int]:
    """The `count` most likely token ids, most likely first."""
    if count <= 0:
        return []
    top = np.argpartition(-logprobs, count - 1)[:count]
    return [int(t) for t in top[np.argsort(-logprobs[top], kind="stable")]]
