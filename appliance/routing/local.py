"""The local backend: generation on this machine's llama.cpp engine (zone `local`)."""
from __future__ import annotations

from dataclasses import replace
from typing import AsyncIterator

from appliance.engine.engine import Engine
from appliance.engine.runtime import SamplingParams
from appliance.engine.scheduler import Job, submit
from appliance.routing.base import Generation, GenerationRequest, StreamDelta


class LocalBackend:
    """Runs requests on the engine. `stream` admits the job at call time, so a full queue
    (QueueFull) or an over-long prompt (ContextLengthExceeded) is raised before any output."""

    name = "local"
    zone = "local"

    def __init__(self, engine: Engine, default_max_tokens: int) -> None:
        self.engine = engine
        self.default_max_tokens = default_max_tokens

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        worker = self.engine.load(request.model)
        runtime = worker.runtime
        if request.prompt is not None:
            prepared = runtime.prepare_text(request.prompt, request.max_tokens)
        else:
            prepared = runtime.prepare_chat(request.messages, request.max_tokens)
        if request.max_tokens is None:
            prepared = replace(prepared, max_tokens=min(prepared.max_tokens, self.default_max_tokens))
        sampling = SamplingParams(request.temperature, request.top_p, request.seed, tuple(request.stop))
        job = submit(worker, prepared, sampling)
        return _cancel_on_close(job)

    async def generate(self, request: GenerationRequest) -> Generation:
        parts: list[str] = []
        last = StreamDelta(text="")
        async for delta in self.stream(request):
            parts.append(delta.text)
            last = delta
        return Generation("".join(parts), last.finish_reason or "stop", last.prompt_tokens, last.completion_tokens)


async def _cancel_on_close(job: Job) -> AsyncIterator[StreamDelta]:
    """The job's deltas; if the reader stops early (client gone), the generation is cancelled."""
    try:
        async for delta in job.deltas():
            yield delta
    finally:
        job.cancel()
