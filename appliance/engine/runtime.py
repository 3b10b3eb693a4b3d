"""One llama.cpp context for one model: prompt formatting, token counting and generation.

Only the engine's scheduler calls into a runtime, from its own worker thread: llama.cpp contexts
are not thread-safe and nothing else touches them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama, LlamaGrammar, StoppingCriteriaList
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_types import (
    ChatCompletionRequestMessage,
    ChatCompletionTool,
    CompletionLogprobs,
    CreateCompletionStreamResponse,
)

from appliance.engine import tool_prompt
from appliance.routing.base import ChatMessage, StreamDelta, TokenLogprob


class ContextLengthExceeded(ValueError):
    """The prompt (plus requested completion) does not fit the model's context window."""


@dataclass(frozen=True)
class PreparedPrompt:
    """A prompt tokenized for this runtime, with the stop strings its chat template adds."""

    tokens: list[int]
    stop: list[str]
    max_tokens: int


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one answer. `grammar` (GBNF) constrains it; `top_logprobs` (None: no logprobs)
    asks for each token's log probability and that many alternatives."""

    temperature: float = 0.7
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None
    top_logprobs: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[int, float] = field(default_factory=dict)


class LlamaRuntime:
    """A loaded GGUF model and its context."""

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int, n_batch: int, embedding: bool = False) -> None:
        self.llm = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_batch=n_batch,
            n_ubatch=n_batch if embedding else 512,  # an embedded input must fit one micro-batch
            embedding=embedding,
            pooling_type=LLAMA_POOLING_TYPE_MEAN if embedding else -1,
            verbose=False,
        )
        self.n_ctx = self.llm.n_ctx()
        self.embedding = embedding
        self._chat_formatter = self._formatter_from_metadata()
        self._full_scores = False

    def _formatter_from_metadata(self) -> Jinja2ChatFormatter | None:
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        model = self.llm._model
        eos_id, bos_id = self.llm.token_eos(), self.llm.token_bos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )

    @property
    def has_chat_template(self) -> bool:
        return self._chat_formatter is not None and not self.embedding

    @property
    def template_handles_tools(self) -> bool:
        template = self.llm.metadata.get("tokenizer.chat_template") or ""
        return self.has_chat_template and tool_prompt.template_handles_tools(template)

    @property
    def dimensions(self) -> int:
        return self.llm.n_embd()

    def _fit(self, tokens: list[int], stop: list[str], max_tokens: int | None) -> PreparedPrompt:
        room = self.n_ctx - len(tokens)
        if room <= 0 or (max_tokens is not None and max_tokens > room):
            wanted = len(tokens) + (max_tokens or 0)
            detail = f" ({len(tokens)} in the prompt, {max_tokens} for the completion)" if max_tokens else ""
            raise ContextLengthExceeded(
                f"This model's maximum context length is {self.n_ctx} tokens. However, you requested "
                f"{wanted} tokens{detail}. Please reduce the length of the messages or completion."
            )
        return PreparedPrompt(tokens, stop, max_tokens if max_tokens is not None else room)

    def prepare_chat(self, messages: list[ChatMessage], max_tokens: int | None,
                     tools: tuple[dict[str, Any], ...] = ()) -> PreparedPrompt:
        """Format messages (and offered tools) with the model's own chat template and tokenize them."""
        if self._chat_formatter is None:
            raise ContextLengthExceeded("this model has no chat template; use /v1/completions")
        if self.template_handles_tools:  # our OpenAI-shaped dicts are what llama.cpp's message types describe
            formatted = self._chat_formatter(messages=cast(list[ChatCompletionRequestMessage],
                                                           tool_prompt.native_messages(messages)),
                                             tools=cast(list[ChatCompletionTool], list(tools)) or None)
        else:
            formatted = self._chat_formatter(messages=cast(list[ChatCompletionRequestMessage],
                                                           tool_prompt.prompted_messages(messages, tools)))
        tokens = self.llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)
        stop = [formatted.stop] if isinstance(formatted.stop, str) else list(formatted.stop or [])
        return self._fit(tokens, stop, max_tokens)

    def prepare_text(self, prompt: str, max_tokens: int | None) -> PreparedPrompt:
        """Tokenize a raw completion prompt."""
        return self._fit(self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True), [], max_tokens)

    def generate(
        self, prompt: PreparedPrompt, sampling: SamplingParams, cancelled: Callable[[], bool]
    ) -> Iterator[StreamDelta]:
        """Stream text deltas; the last delta carries the finish reason and token counts.

        `cancelled` is polled once per sampled token; when it turns true generation stops.
        """
        sampled = 0

        def count_and_check(_ids: object, _logits: object) -> bool:
            nonlocal sampled
            sampled += 1
            return cancelled()

        finish = "stop"
        if sampling.seed is not None:
            # Evaluate the whole prompt: reusing the context's cached prefix evaluates its last tokens in a
            # smaller batch, whose logits differ in the last bits, and a seeded answer would then depend on
            # the request before it.
            self.llm.reset()
        self._keep_all_logits(sampling.top_logprobs is not None)
        chunks = cast(Iterator[CreateCompletionStreamResponse], self.llm.create_completion(  # stream=True: chunks
            prompt.tokens,
            max_tokens=prompt.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=sampling.seed,
            stop=[*prompt.stop, *sampling.stop],
            stream=True,
            stopping_criteria=StoppingCriteriaList([count_and_check]),
            grammar=LlamaGrammar.from_string(sampling.grammar, verbose=False) if sampling.grammar else None,
            logprobs=sampling.top_logprobs,
            presence_penalty=sampling.presence_penalty,
            frequency_penalty=sampling.frequency_penalty,
            logit_bias=sampling.logit_bias or None,
        ))
        for chunk in chunks:
            choice = chunk["choices"][0]
            if choice["text"]:
                yield StreamDelta(text=choice["text"], logprobs=_token_logprobs(choice.get("logprobs"),
                                                                                sampling.top_logprobs))
            if reason := choice.get("finish_reason"):
                finish = reason
        if cancelled():
            finish = "cancelled"
        yield StreamDelta(
            text="",
            finish_reason=finish,
            prompt_tokens=len(prompt.tokens),
            completion_tokens=min(sampled, prompt.max_tokens),
        )

    def _keep_all_logits(self, wanted: bool) -> None:
        """Keep every position's logits (needed for logprobs) only for the requests that ask.

        llama-cpp-python sizes its score buffer and asks llama.cpp for all logits once, at load
        (`logits_all`); that costs every request, so the buffer is grown on the first logprobs request
        and the flag switched per request (the worker runs one job at a time)."""
        if wanted and not self._full_scores:
            self.llm.scores = np.zeros((self.n_ctx, self.llm.n_vocab()), dtype=np.single)
            self._full_scores = True
        self.llm._logits_all = wanted

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Mean-pooled, L2-normalised embeddings of `texts` and the number of tokens they took."""
        counts = [len(self.llm.tokenize(t.encode("utf-8"), add_bos=True)) for t in texts]
        too_long = [i for i, n in enumerate(counts) if n > self.llm.n_batch]
        if too_long:
            raise ContextLengthExceeded(f"input {too_long[0]} has {counts[too_long[0]]} tokens; this embedding model "
                                        f"takes at most {self.llm.n_batch} per input")
        # One input per decode: batched sequences change the last bits of each other's vectors, and
        # identical inputs must give identical vectors whatever they are batched with.
        vectors = [self.llm.embed(text, normalize=True) for text in texts]
        return [list(map(float, v)) for v in vectors], sum(counts)


def _token_logprobs(raw: CompletionLogprobs | None, top: int | None) -> list[TokenLogprob]:
    """llama-cpp-python's completion logprobs as one TokenLogprob per token, alternatives best first."""
    if not raw or top is None:
        return []
    entries = []
    for token, logprob, alternatives in zip(raw["tokens"], raw["token_logprobs"], raw["top_logprobs"]):
        assert logprob is not None  # only an echoed prompt's first token lacks one; generated tokens never do
        ranked = sorted((alternatives or {}).items(), key=lambda item: -item[1])[:top]
        entries.append(TokenLogprob(token, float(logprob), tuple((t, float(p)) for t, p in ranked)))
    return entries
