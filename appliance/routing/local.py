"""The local backend: generation on this machine's llama.cpp engine (zone `local`)."""
from __future__ import annotations

from dataclasses import replace
from typing import AsyncIterator

from appliance.engine.constraints import called_tools, grammar_for
from appliance.engine.engine import Engine
from appliance.engine.runtime import LlamaRuntime, SamplingParams
from appliance.engine.scheduler import Job, submit, submit_embedding
from appliance.engine.tool_prompt import parse_call
from appliance.routing.base import Generation, GenerationRequest, StreamDelta, UnsupportedOption


class LocalBackend:
    """Runs requests on the engine. `stream` admits the job at call time, so a full queue
    (QueueFull), an over-long prompt (ContextLengthExceeded) or an option the model cannot honour
    (UnsupportedOption) is raised before any output."""

    name = "local"
    zone = "local"

    def __init__(self, engine: Engine, default_max_tokens: int) -> None:
        self.engine = engine
        self.default_max_tokens = default_max_tokens

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        worker = self.engine.load(request.model)
        runtime = worker.runtime
        check_generation(request, runtime)
        options = request.options
        if request.prompt is not None:
            prepared = runtime.prepare_text(request.prompt, request.max_tokens)
        else:
            tools = options.tools if options.offers_tools else ()
            prepared = runtime.prepare_chat(request.messages, request.max_tokens, tools)
        if request.max_tokens is None:
            prepared = replace(prepared, max_tokens=min(prepared.max_tokens, self.default_max_tokens))
        sampling = SamplingParams(
            request.temperature, request.top_p, request.seed, tuple(request.stop), grammar=grammar_for(options),
            top_logprobs=options.top_logprobs, presence_penalty=options.presence_penalty,
            frequency_penalty=options.frequency_penalty, logit_bias=options.logit_bias,
        )
        job = submit(worker, prepared, sampling, request.client)
        if options.offers_tools:
            offered = {t["function"]["name"] for t in called_tools(options)}
            return _as_tool_call(_cancel_on_close(job), offered)
        return _cancel_on_close(job)

    async def generate(self, request: GenerationRequest) -> Generation:
        parts: list[str] = []
        last = StreamDelta(text="")
        async for delta in self.stream(request):
            parts.append(delta.text)
            last = delta
        return Generation("".join(parts), last.finish_reason or "stop", last.prompt_tokens, last.completion_tokens,
                          last.tool_calls)

    async def embed(self, model: str, texts: list[str]) -> tuple[list[list[float]], int]:
        """Embeddings of `texts` on an embedding model, and the tokens they took."""
        worker = self.engine.load(model)
        if not worker.runtime.embedding:
            raise UnsupportedOption(f"model {model!r} is not an embedding model (import one with --kind embedding)",
                                    "model")
        return await submit_embedding(worker, texts).result()


def check_generation(request: GenerationRequest, runtime: LlamaRuntime) -> None:
    """Refuse, naming the field, what this model cannot do."""
    if runtime.embedding:
        raise UnsupportedOption(f"model {request.model!r} is an embedding model; use /v1/embeddings", "model")
    if request.prompt is None and request.options.tools and not runtime.has_chat_template:
        raise UnsupportedOption(f"model {request.model!r} has no chat template, so it cannot be offered tools",
                                "tools")
    vocabulary = runtime.n_vocab
    beyond = [token for token in request.options.logit_bias if token >= vocabulary]
    if beyond:
        raise UnsupportedOption(f"logit_bias names token {beyond[0]}, beyond the vocabulary of model "
                                f"{request.model!r} ({vocabulary} tokens)", "logit_bias")


async def _cancel_on_close(job: Job) -> AsyncIterator[StreamDelta]:
    """The job's deltas; if the reader stops early (client gone), the generation is cancelled."""
    try:
        async for delta in job.deltas():
            yield delta
    finally:
        job.cancel()


async def _as_tool_call(deltas: AsyncIterator[StreamDelta], offered: set[str]) -> AsyncIterator[StreamDelta]:
    """With tools offered, the answer is read whole, then given as one delta: a tool call when it is
    one (finish reason `tool_calls`), else its text."""
    parts: list[str] = []
    logprobs = []
    last = StreamDelta(text="")
    try:
        async for delta in deltas:
            parts.append(delta.text)
            logprobs.extend(delta.logprobs)
            last = delta
    finally:
        await deltas.aclose()  # type: ignore[attr-defined]
    text = "".join(parts)
    call = parse_call(text, offered) if last.finish_reason == "stop" else None
    if call is None:
        yield replace(last, text=text, logprobs=logprobs)
    else:
        yield replace(last, text="", finish_reason="tool_calls", tool_calls=[call], logprobs=logprobs)
