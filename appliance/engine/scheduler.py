"""Jobs and the simple worker: what the local backend hands a model, and how results come back.

A `Job` is one generation (run by the model's batch worker, `engine/batching.py`); an `EmbeddingJob`
runs on an embedding model's `ModelWorker`, one job at a time. A job's consumer reads its results
asynchronously; cancelling a job (client gone) stops it at the next decode step and frees its place.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from typing import Protocol

from appliance.engine.admission import Admission
from appliance.engine.runtime import LlamaRuntime, PreparedPrompt, SamplingParams
from appliance.routing.base import StreamDelta

log = logging.getLogger(__name__)

DONE = object()


class QueuedWork:
    """Work for a model's worker thread whose results one async reader consumes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: str = "") -> None:
        self.loop = loop
        self.client = client
        self.items: asyncio.Queue[object] = asyncio.Queue()
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def deliver(self, item: object) -> None:
        """Hand one result (or an exception, or DONE) to the reader, from the worker thread."""
        try:
            self.loop.call_soon_threadsafe(self.items.put_nowait, item)
        except RuntimeError:  # the event loop is gone (server shutting down): nobody is listening
            self.cancel()

    async def _items_until_done(self) -> AsyncIterator[object]:
        while True:
            item = await self.items.get()
            if item is DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class Job(QueuedWork):
    """One generation: produced by the batch worker, consumed by one async reader."""

    def __init__(self, prompt: PreparedPrompt, sampling: SamplingParams, loop: asyncio.AbstractEventLoop,
                 client: str = "") -> None:
        super().__init__(loop, client)
        self.prompt = prompt
        self.sampling = sampling

    async def deltas(self) -> AsyncIterator[StreamDelta]:
        """Deltas until the final one (which carries finish_reason); re-raises a worker error."""
        async for item in self._items_until_done():
            yield item  # type: ignore[misc]


class EmbeddingJob(QueuedWork):
    """Embeddings of a batch of inputs, computed on the worker thread."""

    def __init__(self, texts: list[str], loop: asyncio.AbstractEventLoop, client: str = "") -> None:
        super().__init__(loop, client)
        self.texts = texts

    async def result(self) -> tuple[list[list[float]], int]:
        """The vectors and the token count; re-raises a worker error."""
        async for item in self._items_until_done():
            return item  # type: ignore[return-value]
        raise RuntimeError("embedding job ended without a result")


class Worker(Protocol):
    """What the engine and the local backend see of a model's worker."""

    model_id: str
    runtime: LlamaRuntime

    @property
    def waiting(self) -> int: ...

    @property
    def active(self) -> int: ...

    @property
    def stopping(self) -> bool: ...

    def submit(self, job: QueuedWork) -> None: ...

    def describe(self) -> str: ...

    def stop(self) -> None: ...


class ModelWorker(Admission[QueuedWork]):
    """Runs an embedding model's jobs, one at a time, on a dedicated thread."""

    def __init__(self, model_id: str, runtime: LlamaRuntime, *, max_queue: int, retry_after: int) -> None:
        super().__init__(model_id, capacity=1 + max_queue, retry_after=retry_after)
        self.runtime = runtime
        self._thread = threading.Thread(target=self._run, name=f"engine-{model_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (jobs := self.take(1, wait=True)) is not None:
            for job in jobs:
                try:
                    if not job.cancelled:
                        assert isinstance(job, EmbeddingJob), "an embedding model runs embedding jobs only"
                        job.deliver(self.runtime.embed(job.texts))
                except Exception as exc:  # reported to the request that caused it, never swallowed
                    log.exception("embedding failed on model %s", self.model_id)
                    job.deliver(exc)
                finally:
                    self.finished()
                    job.deliver(DONE)

    def describe(self) -> str:
        return "embedding model, one job at a time"

    def stop(self) -> None:
        self.stop_admitting()
        self._thread.join(timeout=30)


def submit(worker: Worker, prompt: PreparedPrompt, sampling: SamplingParams, client: str = "") -> Job:
    """Admit a job on `worker` from the running event loop (raises QueueFull)."""
    job = Job(prompt, sampling, asyncio.get_running_loop(), client)
    worker.submit(job)
    return job


def submit_embedding(worker: Worker, texts: list[str], client: str = "") -> EmbeddingJob:
    """Admit an embedding job on `worker` from the running event loop (raises QueueFull)."""
    job = EmbeddingJob(texts, asyncio.get_running_loop(), client)
    worker.submit(job)
    return job
