"""One llama.cpp context for one model: prompt formatting, token counting and generation.

Only the engine's scheduler calls into a runtime, from its own worker thread: llama.cpp contexts
are not thread-safe and nothing else touches them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from llama_cpp import Llama, StoppingCriteriaList
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from appliance.routing.base import ChatMessage, StreamDelta


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
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


class LlamaRuntime:
    """A loaded GGUF model and its context."""

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int, n_batch: int) -> None:
        self.llm = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_batch=n_batch,
            verbose=False,
        )
        self.n_ctx = self.llm.n_ctx()
        self._chat_formatter = self._formatter_from_metadata()

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
        return self._chat_formatter is not None

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

    def prepare_chat(self, messages: list[ChatMessage], max_tokens: int | None) -> PreparedPrompt:
        """Format messages with the model's own chat template and tokenize them."""
        if self._chat_formatter is None:
            raise ContextLengthExceeded("this model has no chat template; use /v1/completions")
        formatted = self._chat_formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
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
        chunks = self.llm.create_completion(
            prompt.tokens,
            max_tokens=prompt.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            seed=sampling.seed,
            stop=[*prompt.stop, *sampling.stop],
            stream=True,
            stopping_criteria=StoppingCriteriaList([count_and_check]),
        )
        for chunk in chunks:
            choice = chunk["choices"][0]
            if choice["text"]:
                yield StreamDelta(text=choice["text"])
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        if cancelled():
            finish = "cancelled"
        yield StreamDelta(
            text="",
            finish_reason=finish,
            prompt_tokens=len(prompt.tokens),
            completion_tokens=min(sampled, prompt.max_tokens),
        )
