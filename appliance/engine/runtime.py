"""One loaded model: prompt formatting, token counting, token texts, and embeddings.

Generation runs in the batch worker (`engine/batching.py`), which owns the chat model's llama.cpp
context; embeddings run on the embedding model's own worker thread. llama.cpp contexts are not
thread-safe and nothing else touches them.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama
from llama_cpp._internals import LlamaModel
from llama_cpp._logger import set_verbose
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from appliance.engine import tool_prompt
from appliance.routing.base import ChatMessage


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
    """A loaded GGUF model: its chat template, tokenizer and context window (per sequence).

    A chat model is loaded on its own (the batch worker gives it its llama.cpp context); an embedding
    model gets llama-cpp-python's `Llama` with mean pooling, and runs on the simple worker."""

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int, n_batch: int, embedding: bool = False) -> None:
        self.llm: Llama | None = None
        if embedding:
            self.llm = Llama(
                model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                n_batch=n_batch, n_ubatch=n_batch,  # an embedded input must fit one micro-batch
                embedding=True, pooling_type=LLAMA_POOLING_TYPE_MEAN, verbose=False,
            )
            self.model = self.llm._model
        else:
            llama_cpp.llama_backend_init()
            set_verbose(False)  # llama.cpp logs errors only (what `Llama(verbose=False)` does)
            self.model = LlamaModel(path_model=str(model_path), params=LlamaModel.default_params(), verbose=False)
        self.n_ctx = n_ctx
        self.embedding = embedding
        self.vocab = self.model.vocab
        self.n_vocab = self.model.n_vocab()
        self.metadata = self.model.metadata()
        self._chat_formatter = self._formatter_from_metadata()
        self._pieces: dict[int, bytes] = {}

    def _formatter_from_metadata(self) -> Jinja2ChatFormatter | None:
        template = self.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        model = self.model
        eos_id, bos_id = model.token_eos(), model.token_bos()
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
        template = self.metadata.get("tokenizer.chat_template") or ""
        return self.has_chat_template and tool_prompt.template_handles_tools(template)

    @property
    def dimensions(self) -> int:
        return self.model.n_embd()

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
        if self.template_handles_tools:
            formatted = self._chat_formatter(messages=tool_prompt.native_messages(messages), tools=list(tools) or None)
        else:
            formatted = self._chat_formatter(messages=tool_prompt.prompted_messages(messages, tools))
        tokens = self.model.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)
        stop = [formatted.stop] if isinstance(formatted.stop, str) else list(formatted.stop or [])
        return self._fit(tokens, stop, max_tokens)

    def prepare_text(self, prompt: str, max_tokens: int | None) -> PreparedPrompt:
        """Tokenize a raw completion prompt."""
        return self._fit(self.model.tokenize(prompt.encode("utf-8"), add_bos=True, special=True), [], max_tokens)

    def token_bytes(self, token: int) -> bytes:
        """The bytes a generated token stands for (control tokens: none)."""
        piece = self._pieces.get(token)
        if piece is None:
            buffer = ctypes.create_string_buffer(256)
            length = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, len(buffer), 0, False)
            piece = self._pieces[token] = buffer.raw[:max(length, 0)]
        return piece

    def token_text(self, token: int) -> str:
        """A token's text on its own (a part of a character shows as U+FFFD)."""
        return self.token_bytes(token).decode("utf-8", errors="replace")

    def is_end_of_generation(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Mean-pooled, L2-normalised embeddings of `texts` and the number of tokens they took."""
        assert self.llm is not None, "not an embedding model"
        counts = [len(self.llm.tokenize(t.encode("utf-8"), add_bos=True)) for t in texts]
        too_long = [i for i, n in enumerate(counts) if n > self.llm.n_batch]
        if too_long:
            raise ContextLengthExceeded(f"input {too_long[0]} has {counts[too_long[0]]} tokens; this embedding model "
                                        f"takes at most {self.llm.n_batch} per input")
        # One input per decode: batched sequences change the last bits of each other's vectors, and
        # identical inputs must give identical vectors whatever they are batched with.
        vectors = [self.llm.embed(text, normalize=True) for text in texts]
        return [list(map(float, v)) for v in vectors], sum(counts)

