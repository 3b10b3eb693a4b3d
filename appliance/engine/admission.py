"""Admission in front of a model's worker thread: a bound on admitted jobs, and fair turns between clients.

A job is admitted only while the model has room (its running places plus `max_queue` waiting);
otherwise `QueueFull` tells the caller to come back after `retry_after` seconds. Waiting jobs are
kept per client (the API key that sent them) and started round-robin across clients, first come first
served within one, so a client with many requests in flight cannot starve another.

A request announces its job while its checks run (`expect`); an idle worker that has a job to start
and more announced waits for them (`gather`, bounded), so jobs whose checks end close together
start together (one prompt evaluation for all) rather than one by one behind each other's steps.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar


class QueueFull(RuntimeError):
    """No room for another job on this model right now."""

    def __init__(self, model_id: str, retry_after: int) -> None:
        super().__init__(f"model {model_id!r} is busy: the request queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


class EngineStopped(RuntimeError):
    """The model's worker has stopped (shut down, or its thread failed): no job will run on it."""

    def __init__(self, model_id: str) -> None:
        super().__init__(f"the engine for model {model_id!r} has stopped; the service needs a restart")


def no_announcement() -> None:
    """What ends an announcement no worker counts (`Admission.expect`): nothing."""


class Waiting(Protocol):
    client: str

    def cancel(self) -> None: ...


W = TypeVar("W", bound=Waiting)


class FairQueue(Generic[W]):
    """Waiting jobs per client, taken round-robin across clients and in order within one."""

    def __init__(self) -> None:
        self._by_client: OrderedDict[str, deque[W]] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[W]:
        return (job for jobs in self._by_client.values() for job in jobs)

    def push(self, job: W) -> None:
        self._by_client.setdefault(job.client, deque()).append(job)
        self._count += 1

    def pop(self) -> W:
        """The next client's oldest job; that client goes to the back of the line."""
        client, jobs = next(iter(self._by_client.items()))
        job = jobs.popleft()
        del self._by_client[client]
        if jobs:
            self._by_client[client] = jobs
        self._count -= 1
        return job


class Admission(Generic[W]):
    """The admitted-job count and the fair queue of one model, shared with its worker thread."""

    def __init__(self, model_id: str, *, capacity: int, retry_after: int) -> None:
        self.model_id = model_id
        self.capacity = capacity
        self.retry_after = retry_after
        self._queue: FairQueue[W] = FairQueue()
        self._admitted = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._expected = 0  # announced jobs not yet submitted (their checks are running)

    @property
    def waiting(self) -> int:
        """Jobs admitted but not yet started."""
        with self._cond:
            return len(self._queue)

    @property
    def active(self) -> int:
        """Jobs admitted and not finished (running plus waiting)."""
        with self._cond:
            return self._admitted

    def submit(self, job: W) -> None:
        with self._cond:
            if self._stopping:
                raise EngineStopped(self.model_id)
            if self._admitted >= self.capacity:
                raise QueueFull(self.model_id, self.retry_after)
            self._admitted += 1
            self._queue.push(job)
            self._cond.notify()

    def take(self, room: int, *, wait: bool) -> list[W] | None:
        """Up to `room` waiting jobs in fair order; with `wait`, block until there is one. None once
        stopping and nothing is left waiting."""
        with self._cond:
            while wait and not self._queue and not self._stopping:
                self._cond.wait()
            if self._stopping and not self._queue:
                return None
            return [self._queue.pop() for _ in range(min(room, len(self._queue)))]

    def expect(self) -> Callable[[], None]:
        """Announce a job on its way; returns what to call once it was submitted or never will be
        (calling that again does nothing)."""
        with self._cond:
            self._expected += 1
        pending = [True]

        def arrived() -> None:
            with self._cond:
                if pending:
                    pending.clear()
                    self._expected -= 1
                    self._cond.notify_all()

        return arrived

    def gather(self, room: int, timeout: float) -> list[W]:
        """Up to `room` more waiting jobs, after waiting up to `timeout` seconds while announced jobs
        are still on their way and there is room for them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._expected and len(self._queue) < room and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return [self._queue.pop() for _ in range(min(room, len(self._queue)))]

    def finished(self) -> None:
        """One admitted job is over (done, failed or cancelled)."""
        with self._cond:
            self._admitted -= 1

    @property
    def stopping(self) -> bool:
        with self._cond:
            return self._stopping

    def stop_admitting(self) -> None:
        """Refuse new jobs and cancel the waiting ones (the worker still ends each of them)."""
        with self._cond:
            self._stopping = True
            for job in self._queue:
                job.cancel()
            self._cond.notify_all()
