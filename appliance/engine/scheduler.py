"""The scheduler: a bounded queue in front of each model's single llama.cpp worker thread.

A job is admitted only while the model has room (one running plus `max_queue` waiting); otherwise
`QueueFull` tells the caller to come back after `retry_after` seconds. A job's consumer reads deltas
asynchronously; cancelling a job (client gone) stops its generation at the next token and frees the
slot.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator

from appliance.engine.runtime import LlamaRuntime, PreparedPrompt, SamplingParams
from appliance.routing.base import StreamDelta

log = logging.getLogger(__name__)

_DONE = object()
FLUSH_SECONDS = 0.02


def _merged(batch: list[StreamDelta]) -> StreamDelta:
    """Consecutive deltas as one; the last one's finish reason and counts are kept."""
    last = batch[-1]
    return StreamDelta("".join(d.text for d in batch), last.finish_reason, last.prompt_tokens,
                       last.completion_tokens, last.tool_calls, [e for d in batch for e in d.logprobs])


class QueueFull(RuntimeError):
    """No room for another job on this model right now."""

    def __init__(self, model_id: str, retry_after: int) -> None:
        super().__init__(f"model {model_id!r} is busy: the request queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


class QueuedWork:
    """Work for a model's worker thread whose results one async reader consumes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: asyncio.Queue[object] = asyncio.Queue()
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def _deliver(self, item: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._items.put_nowait, item)
        except RuntimeError:  # the event loop is gone (server shutting down): nobody is listening
            self.cancel()

    async def _items_until_done(self) -> AsyncIterator[object]:
        while True:
            item = await self._items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class Job(QueuedWork):
    """One generation: produced by the worker thread, consumed by one async reader."""

    def __init__(self, prompt: PreparedPrompt, sampling: SamplingParams, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.prompt = prompt
        self.sampling = sampling

    async def deltas(self) -> AsyncIterator[StreamDelta]:
        """Deltas until the final one (which carries finish_reason); re-raises a worker error."""
        async for item in self._items_until_done():
            yield item  # type: ignore[misc]


class EmbeddingJob(QueuedWork):
    """Embeddings of a batch of inputs, computed on the worker thread."""

    def __init__(self, texts: list[str], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.texts = texts

    async def result(self) -> tuple[list[list[float]], int]:
        """The vectors and the token count; re-raises a worker error."""
        async for item in self._items_until_done():
            return item  # type: ignore[return-value]
        raise RuntimeError("embedding job ended without a result")


class ModelWorker:
    """Runs the jobs of one model, one at a time, on a dedicated thread."""

    def __init__(self, model_id: str, runtime: LlamaRuntime, *, max_queue: int, retry_after: int) -> None:
        self.model_id = model_id
        self.runtime = runtime
        self.capacity = 1 + max_queue
        self.retry_after = retry_after
        self._jobs: deque[QueuedWork] = deque()
        self._admitted = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"engine-{model_id}", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Jobs admitted but not yet started."""
        with self._cond:
            return len(self._jobs)

    @property
    def active(self) -> int:
        """Jobs admitted and not finished (running plus waiting)."""
        with self._cond:
            return self._admitted

    def submit(self, job: QueuedWork) -> None:
        with self._cond:
            if self._stopping:
                raise QueueFull(self.model_id, self.retry_after)
            if self._admitted >= self.capacity:
                raise QueueFull(self.model_id, self.retry_after)
            self._admitted += 1
            self._jobs.append(job)
            self._cond.notify()

    def _next_job(self) -> QueuedWork | None:
        with self._cond:
            while not self._jobs and not self._stopping:
                self._cond.wait()
            return self._jobs.popleft() if self._jobs else None

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                if not job.cancelled:
                    self._execute(job)
            except Exception as exc:  # reported to the request that caused it, never swallowed
                log.exception("generation failed on model %s", self.model_id)
                job._deliver(exc)
            finally:
                with self._cond:
                    self._admitted -= 1
                job._deliver(_DONE)

    def _execute(self, job: QueuedWork) -> None:
        if isinstance(job, EmbeddingJob):
            job._deliver(self.runtime.embed(job.texts))
        else:
            assert isinstance(job, Job)
            self._generate(job)

    def _generate(self, job: Job) -> None:
        """Run one job, handing its deltas to the event loop in batches: at most one wake-up of the
        loop per FLUSH_SECONDS, so the serving thread does not compete with decoding per token."""
        batch: list[StreamDelta] = []
        last_flush = time.monotonic()
        for delta in self.runtime.generate(job.prompt, job.sampling, lambda: job.cancelled):
            batch.append(delta)
            now = time.monotonic()
            if delta.finish_reason or now - last_flush >= FLUSH_SECONDS:
                job._deliver(_merged(batch))
                batch, last_flush = [], now

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            for job in self._jobs:
                job.cancel()
            self._cond.notify_all()
        self._thread.join(timeout=30)


def submit(worker: ModelWorker, prompt: PreparedPrompt, sampling: SamplingParams) -> Job:
    """Admit a job on `worker` from the running event loop (raises QueueFull)."""
    job = Job(prompt, sampling, asyncio.get_running_loop())
    worker.submit(job)
    return job


def submit_embedding(worker: ModelWorker, texts: list[str]) -> EmbeddingJob:
    """Admit an embedding job on `worker` from the running event loop (raises QueueFull)."""
    job = EmbeddingJob(texts, asyncio.get_running_loop())
    worker.submit(job)
    return job
